#!/usr/bin/env bash
# A qemu-storage-daemon left holding a file of an interrupted offline
# backup: the next run finds it by its open files (the job kind's reclaim),
# stops it before it rolls that backup back, and then backs up.  (vckpt's
# own daemon dies with it: PR_SET_PDEATHSIG, and the kernel continues a
# stopped one whose process group is orphaned; so the test leaves one of
# its own, as a daemon that survived somehow would be.)
. "${srcdir:-.}/offline-functions.sh"
set -e -x
offline_setup

put vda 0xc1 0 4M
off
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name k0
keep=$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[0].disks[0].file')
VCKPT_TEST_HOOK=offline-copying start_backup backup "$dom" --repo "$R" --full --name k1
wait_stopped "$pid"
qsd=$(qsd_of "$pid")
kill -KILL "$pid"
wait "$pid" || true
wait_for 30 "vckpt's qemu-storage-daemon $qsd ending with it" test ! -e "/proc/$qsd"

file=$(find "$R/$dom" -name '*.vda.qcow2' ! -path "*/$keep")
test -f "$file"
qemu-storage-daemon --blockdev "driver=file,node-name=f,filename=$file,read-only=on" &
stray=$!
cleanup_fn kill -KILL "$stray"
wait_for 30 "the stray daemon opening $file" fuser -s "$file"

# Backup ids are UTC seconds, with -2, -3... for more in the same second
# (k1's id is 20261207T190828Z-2 when k0 took that second too): k2 in
# k1's second would take k1's freed id and write a file of the same name,
# and the check below could not tell them apart.
k1id=$(basename "$(dirname "$file")")
wait_for 5 "a second after k1's ($k1id)" \
    sh -c "test \"\$(date -u +%Y%m%dT%H%M%SZ)\" != ${k1id%%-*}"
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name k2
grep -q "stopping the qemu-storage-daemon (pid $stray) an interrupted vckpt run left" "$err"
grep -q 'cleaned up after interrupted backup' "$err"
wait "$stray" || true
test ! -e "/proc/$stray"
test ! -e "$file"
# k2 starts a new chain: k0 is needed no more (checkpoints follow the
# repository).
test "$(checkpoints)" = "k2 "
in_use_none
snap 2
restored_ok k2 2
