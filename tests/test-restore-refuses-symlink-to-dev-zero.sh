#!/usr/bin/env bash
# A symlink to /dev/zero in place of the incremental's disk file: restore and
# verify refuse it (no symlink followed, nothing endless read).
. "${srcdir:-.}/restore-functions.sh"
rf_setup

f=$(rf_file 1 vda)
rm "$f"
ln -s /dev/zero "$f"
mkdir "$TMPD/to"
expect_exit 1 rf_vckpt restore "$dom" --repo "$R" --to "$TMPD/to"
grep -q "symbolic link" "$err"
expect_exit 1 rf_vckpt restore "$dom" --repo "$R" --to "$TMPD/to" --no-verify
grep -q "symbolic link" "$err"
rf_once "$(basename "$f")" "$err"
test -z "$(ls -A "$TMPD/to")"
expect_exit 1 rf_vckpt --json verify "$dom" --repo "$R"
rf_has_finding "$out" file-unreadable "$f"
