#!/usr/bin/env bash
# The domain starts after vckpt found it shut off and before its offline
# job opened the images (held there with the test hook, VCKPT_TEST_HOOK=
# offline-before-job): qemu-storage-daemon cannot take the image locks, and
# the backup ends busy (exit 5) with nothing changed: no checkpoint, no
# bitmap, no files, no image of a running QEMU copied.  The next backup
# (online now) works.
. "${srcdir:-.}/offline-functions.sh"
set -e -x
offline_setup

put vda 0x61 0 2M
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name k0
off
VCKPT_TEST_HOOK=offline-before-job start_backup backup "$dom" --repo "$R" --incremental k0 --name k1
wait_stopped "$pid"
lab_domain_start "$dom"
kill -CONT "$pid"
st=0
wait "$pid" || st=$?
cat "$TMPD/e"
test "$st" = 5 || fail "exit $st, expected 5 (busy)"
grep -q "domain 'off' started during the backup" "$TMPD/e"
grep -q 'nothing was changed' "$TMPD/e"
test "$(checkpoints)" = "k0 "
test "$(nbackups)" = 1
test "$(disk_files)" = 2
test -z "$(ls "$R/$dom/pending.xml" 2>/dev/null)"
put vda 0x62 4M 1M
expect_exit 0 vckpt backup "$dom" --repo "$R" --incremental k0 --name k1
snap 1
off
no_bitmap vda vckpt-offline-tmp
in_use_none
restored_ok k1 1
