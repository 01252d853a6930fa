#!/usr/bin/env bash
# A disk file whose qcow2 header is overwritten: verify reports
# image-unreadable and its message does not repeat the file's path.
. "${srcdir:-.}/restore-functions.sh"
rf_setup

f=$(rf_file 1 vda)
printf 'XXXX' | dd of="$f" bs=1 seek=0 conv=notrunc status=none
expect_exit 1 rf_vckpt --json verify "$dom" --repo "$R"
rf_has_finding "$out" image-unreadable "$f"
jq -r --arg f "$f" '.findings[] | select(.code == "image-unreadable") | .message' "$out" > "$TMPD/msg"
assert_no_grep "$(basename "$f")" "$TMPD/msg"
