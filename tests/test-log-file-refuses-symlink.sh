#!/usr/bin/env bash
# --log-file never follows a symbolic link (a cron job's log in a directory
# others can write must not become a write into another file) and refuses
# what is not a regular file; nothing runs then: exit 1.
. "${srcdir:-.}/functions.sh"
set -e -x
echo precious > "$TMPD/target"
ln -s "$TMPD/target" "$TMPD/link"
expect_exit 1 vckpt --log-file "$TMPD/link" help
assert_grep 'log file .*/link: a symbolic link: refusing to follow it' "$err"
test -z "$(cat "$out")"
test "$(cat "$TMPD/target")" = precious
mkfifo "$TMPD/fifo"
expect_exit 1 vckpt --log-file "$TMPD/fifo" help
assert_grep 'log file .*/fifo: .*not a regular file' "$err"
# As a command's option too.
expect_exit 1 vckpt help --log-file "$TMPD/link"
expect_exit 2 vckpt --log-file '' help
expect_exit 0 vckpt --log-file "$TMPD/ok.log" help
assert_grep 'start: help$' "$TMPD/ok.log"
assert_grep 'end: exit status 0$' "$TMPD/ok.log"
