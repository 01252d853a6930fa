#!/usr/bin/env bash
# A character device (like /dev/zero) in place of the full backup's disk
# file: verify reports it unreadable (exit 1) without reading it forever,
# and restore refuses it.
. "${srcdir:-.}/restore-functions.sh"
rf_setup

f=$(rf_file 0 vda)
rm "$f"
mknod -m 0600 "$f" c 1 5
expect_exit 1 rf_vckpt --json verify "$dom" --repo "$R"
rf_has_finding "$out" file-unreadable "$f"
jq -e '.ok == false' "$out"
mkdir "$TMPD/to"
expect_exit 1 rf_vckpt restore "$dom" --repo "$R" --to "$TMPD/to" --at c1
grep -q "not a regular file" "$err"
test -z "$(ls -A "$TMPD/to")"
