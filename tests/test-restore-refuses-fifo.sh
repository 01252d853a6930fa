#!/usr/bin/env bash
# A FIFO in place of the full backup's disk file: restore (with and without
# --no-verify) and verify refuse it at once instead of blocking on it, name
# the file once, and leave nothing behind.
. "${srcdir:-.}/restore-functions.sh"
rf_setup

f=$(rf_file 0 vda)
rm "$f"
mkfifo -m 0600 "$f"
mkdir "$TMPD/to"
expect_exit 1 rf_vckpt restore "$dom" --repo "$R" --to "$TMPD/to"
grep -q "not a regular file" "$err"
rf_once "$(basename "$f")" "$err"
expect_exit 1 rf_vckpt restore "$dom" --repo "$R" --to "$TMPD/to" --no-verify
grep -q "not a regular file" "$err"
rf_once "$(basename "$f")" "$err"
test -z "$(ls -A "$TMPD/to")"
expect_exit 1 rf_vckpt --json verify "$dom" --repo "$R"
rf_has_finding "$out" file-unreadable "$f"
test -p "$f"
