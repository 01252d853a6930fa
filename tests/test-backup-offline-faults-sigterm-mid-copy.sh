#!/usr/bin/env bash
# SIGTERM while the offline job copies: vckpt cancels the job, stops its
# qemu-storage-daemon and rolls back at once (exit 6): no checkpoint, no
# bitmap, no files, no journal; the next backup works.
. "${srcdir:-.}/offline-functions.sh"
set -e -x
offline_setup

put vda 0x91 0 4M
off
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name k0
VCKPT_TEST_HOOK=offline-copying start_backup backup "$dom" --repo "$R" --full --name k1
wait_stopped "$pid"
kill -TERM "$pid"
kill -CONT "$pid"
st=0
wait "$pid" || st=$?
cat "$TMPD/e"
test "$st" = 6 || fail "exit $st, expected 6"
grep -q 'interrupted by signal 15' "$TMPD/e"
test ! -e "$R/$dom/pending.xml"
rolled_back k1 1 2
snap 0
expect_exit 0 vckpt backup "$dom" --repo "$R" --incremental k0 --name k1
restored_ok k1 0
