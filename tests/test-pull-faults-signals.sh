#!/usr/bin/env bash
# Every stop signal during a pull backup (after libvirt started the job and
# created the checkpoint, before the copy ends): exit 6, the job ended, its
# checkpoint deleted, no file, journal, scratch file, socket or
# qemu-storage-daemon left (two of them compressed: that daemon writes
# their files; vckpt writes the others itself); a pull backup afterwards
# works and restores.
. "${srcdir:-.}/faults-functions.sh"
set -e -x
export VCKPT_LOCK_DIR=$TMPD/run
faults_setup
put vda 0x31 0 8M
put vdb 0x41 0 1M
images=$(dirname "$(lab_disk_path "$dom" vda)")

for sig in TERM INT HUP QUIT; do
    compress=()
    case $sig in INT|QUIT) compress=(--compress) ;; esac
    hold_at pull-begun "$VCKPT" backup "$dom" --repo "$R" --full --pull "${compress[@]}" \
        --name "s-$sig"
    virsh domjobinfo "$dom" | grep -q '^Operation: *Backup'
    release "$sig"
    test "$rc" -eq 6 || fail "SIG$sig: exit $rc, want 6"
    grep -q "interrupted by signal" "$TMPD/e"
    no_checkpoint "s-$sig"
    no_backup_job
    test ! -e "$R/$dom/pending.xml"
    test "$(disk_files)" -eq 0
    if ls "$images" | grep -q vckpt-scratch; then fail "SIG$sig: scratch left: $(ls "$images")"; fi
    test -z "$(ls -A "$TMPD/run-nbd")" || fail "SIG$sig: left $(ls -A "$TMPD/run-nbd")"
    no_writer || fail "SIG$sig: a qemu-storage-daemon writing the repository is left"
done

expect_exit 0 vckpt --json backup "$dom" --repo "$R" --full --pull --name k1
restored_ok k1 vda vdb
