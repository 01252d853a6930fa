#!/usr/bin/env bash
# While an offline backup copies, starting the domain fails cleanly on
# QEMU's image locks (qemu-storage-daemon holds the images read-only), and
# the backup still completes and restores bit for bit.  The backup is held
# at a known point with the test hook (VCKPT_TEST_HOOK stops vckpt there;
# its qemu-storage-daemon keeps the images open meanwhile).
. "${srcdir:-.}/offline-functions.sh"
set -e -x
offline_setup

put vda 0x51 0 4M
put vdb 0x52 1M 1M
off
snap 0
VCKPT_TEST_HOOK=offline-copying start_backup backup "$dom" --repo "$R" --full --name k0
wait_stopped "$pid"
qsd_of "$pid" >/dev/null
if virsh start "$dom" 2> "$TMPD/start.err"; then
    fail "the domain started while its images were being backed up"
fi
cat "$TMPD/start.err"
grep -q 'lock' "$TMPD/start.err"
test "$(lab_domain_state "$dom")" = "shut off"
kill -CONT "$pid"
wait "$pid" || fail "the backup failed after the refused start: $(cat "$TMPD/e")"

test "$(checkpoints)" = "k0 "
bitmap_sound vda k0
bitmap_sound vdb k0
restored_ok k0 0
# Once the backup is done the domain starts, and the checkpoint works.
put vda 0x53 8M 1M
expect_exit 0 vckpt backup "$dom" --repo "$R" --incremental k0 --name k1
snap 1
off
restored_ok k1 1
