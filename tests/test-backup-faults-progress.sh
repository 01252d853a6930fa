#!/usr/bin/env bash
# Progress: a line with percent and rate on a terminal (script(1) gives a
# pty), nothing with -q, nothing when stderr is not a terminal.
. "${srcdir:-.}/faults-functions.sh"
requires script --version
set -e -x
faults_setup
# Enough data that the job is still running when vckpt first looks.
lab_write "$dom" vda 0x31 0 256M

script -qec "$(printf '%q ' "$VCKPT" backup "$dom" --repo "$R" --full --name p1)" /dev/null > "$TMPD/tty.out"
grep -aq '[0-9]%  .* of .*/s' "$TMPD/tty.out" || fail "no progress line on a terminal"
grep -aq "Backup full-.* complete" "$TMPD/tty.out"
script -qec "$(printf '%q ' "$VCKPT" -q backup "$dom" --repo "$R" --full --name p2)" /dev/null > "$TMPD/tty-q.out"
assert_no_grep '%  ' "$TMPD/tty-q.out"
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name p3
assert_no_grep '%  ' "$err"
