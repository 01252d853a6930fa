#!/usr/bin/env bash
# SIGKILL of vckpt in the one window where its qemu-storage-daemon holds
# the top images read-write, just after it added the new checkpoint's
# bitmap (held there by the test hook): the daemon gets SIGTERM
# (PR_SET_PDEATHSIG) and closes the images cleanly, storing that bitmap, so
# no bitmap stays in-use; the next run removes the new checkpoint and its
# bitmap (the domain is shut off: qemu-img bitmap --remove) and the files,
# and then backs up correctly.
. "${srcdir:-.}/offline-functions.sh"
set -e -x
offline_setup

put vda 0x81 0 4M
put vdb 0x82 0 1M
off
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name k0
snap 0
put vda 0x83 2M 1M
off
VCKPT_TEST_HOOK=offline-read-write start_backup backup "$dom" --repo "$R" --incremental k0 --name k1
wait_stopped "$pid"
qsd=$(qsd_of "$pid")
# The checkpoint is defined before the bitmaps are added.
virsh -q checkpoint-list "$dom" --name | grep -q '^k1$'
kill -KILL "$pid"
wait "$pid" || true
wait_for 30 "qemu-storage-daemon $qsd ending with vckpt" test ! -e "/proc/$qsd"
in_use_none
bitmap_sound vda k0
bitmap_sound vdb k0
bitmap_sound vda k1          # stored by the daemon's clean exit

# The next run (a dry run writes nothing, so a real one) rolls it back.
expect_exit 0 vckpt backup "$dom" --repo "$R" --incremental k0 --name k1b
grep -q "cleaned up after interrupted backup .*checkpoint 'k1' deleted" "$err"
no_bitmap vda k1
no_bitmap vdb k1
test "$(checkpoints)" = "k0 k1b "
snap 1
in_use_none
restored_ok k1b 1
