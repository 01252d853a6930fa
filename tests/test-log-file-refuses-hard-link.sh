#!/usr/bin/env bash
# --log-file refuses a file with another hard link (planted in a directory
# others can write, it would make root append to the file it names) and a
# file of another user; nothing is written to either, exit 1.
. "${srcdir:-.}/functions.sh"
set -e -x
echo precious > "$TMPD/target"
ln "$TMPD/target" "$TMPD/hard"
expect_exit 1 vckpt --log-file "$TMPD/hard" help
assert_grep 'log file .*/hard: has other hard links: refusing to append to it' "$err"
test "$(cat "$TMPD/target")" = precious
echo theirs > "$TMPD/other"
chown 65534 "$TMPD/other"
expect_exit 1 vckpt --log-file "$TMPD/other" help
assert_grep 'log file .*/other: belongs to another user' "$err"
test "$(cat "$TMPD/other")" = theirs
