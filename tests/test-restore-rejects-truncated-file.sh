#!/usr/bin/env bash
# The incremental's file cut short by 64 KiB: restore stops with exit 1 naming
# the file and its recorded size, and leaves no image behind.
. "${srcdir:-.}/restore-functions.sh"
rf_setup

f=$(rf_file 1 vda)
truncate -s -65536 "$f"
mkdir "$TMPD/to"
expect_exit 1 rf_vckpt restore "$dom" --repo "$R" --to "$TMPD/to"
grep -q "$(basename "$f"): size [0-9]*, the manifest says [0-9]*" "$err"
test -z "$(ls -A "$TMPD/to")" || fail "restore left files behind: $(ls -A "$TMPD/to")"
