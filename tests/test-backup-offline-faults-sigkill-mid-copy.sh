#!/usr/bin/env bash
# SIGKILL of vckpt while its offline job copies (held there by the test
# hook): its qemu-storage-daemon dies with it (PR_SET_PDEATHSIG), the
# images are released with no bitmap in-use, and the next run rolls the
# backup back (no checkpoint, no bitmap, no files, journal finished) and
# then backs up correctly.
. "${srcdir:-.}/offline-functions.sh"
set -e -x
offline_setup

put vda 0x71 0 4M
off
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name k0
snap 0
put vda 0x72 1M 1M
off
VCKPT_TEST_HOOK=offline-copying start_backup backup "$dom" --repo "$R" --incremental k0 --name k1
wait_stopped "$pid"
qsd=$(qsd_of "$pid")
kill -KILL "$pid"
wait "$pid" || true
wait_for 30 "qemu-storage-daemon $qsd ending with vckpt" test ! -e "/proc/$qsd"
test -e "$R/$dom/pending.xml"
in_use_none

# The next run finishes the rollback, then makes its own backup.
expect_exit 0 vckpt backup "$dom" --repo "$R" --incremental k0 --name k1
grep -q 'cleaned up after interrupted backup' "$err"
test "$(checkpoints)" = "k0 k1 "
test ! -e "$R/$dom/pending.xml"
snap 1
bitmap_sound vda k1
in_use_none
restored_ok k0 0
restored_ok k1 1
