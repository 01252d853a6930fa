#!/usr/bin/env bash
# qemu-storage-daemon killed (SIGKILL) while it copies: the backup fails
# (exit 1) saying so, and is rolled back at once; the images keep their
# bitmaps sound (they were open read-only); the next backup works.
. "${srcdir:-.}/offline-functions.sh"
set -e -x
offline_setup

put vda 0xa1 0 4M
off
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name k0
VCKPT_TEST_HOOK=offline-copying start_backup backup "$dom" --repo "$R" --full --name k1
wait_stopped "$pid"
qsd=$(qsd_of "$pid")
kill -KILL "$qsd"
kill -CONT "$pid"
st=0
wait "$pid" || st=$?
cat "$TMPD/e"
test "$st" = 1 || fail "exit $st, expected 1"
grep -q 'qemu-storage-daemon killed by signal 9' "$TMPD/e"
test ! -e "$R/$dom/pending.xml"
rolled_back k1 1 2
bitmap_sound vda k0
snap 0
expect_exit 0 vckpt backup "$dom" --repo "$R" --incremental k0 --name k1
restored_ok k1 0
