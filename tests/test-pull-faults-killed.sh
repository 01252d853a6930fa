#!/usr/bin/env bash
# vckpt killed (SIGKILL) during a compressed pull backup: libvirt's pull
# job stays (a pull job has no end of its own), the daemon writing the
# compressed targets dies with vckpt, the journal stays.  The next backup
# (uncompressed: vckpt writes its files itself) ends the leftover job (it
# knows it by the scratch files' names), deletes its checkpoint, removes the
# partial files, then backs up; that backup restores bit for bit.
. "${srcdir:-.}/faults-functions.sh"
set -e -x
export VCKPT_LOCK_DIR=$TMPD/run
faults_setup
put vda 0x31 0 8M
put vdb 0x41 0 1M

hold_at pull-begun "$VCKPT" backup "$dom" --repo "$R" --full --compress --name kill1
no_writer && fail "the writer of the held backup is not seen"
release KILL
test "$rc" -eq 137
test -e "$R/$dom/pending.xml"
virsh domjobinfo "$dom" | grep -q '^Operation: *Backup'
# The writer died with vckpt (PR_SET_PDEATHSIG).
wait_for 10 "the end of the writer" no_writer

expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --pull --name a1
grep -q "ending the pull backup job an interrupted vckpt run left behind" "$err"
grep -q "cleaned up after interrupted backup .*its checkpoint 'kill1' deleted" "$err"
jq -e '.level == "full" and .job == "pull"' "$out"
test "$(checkpoints)" = "a1 "
test "$(nbackups)" -eq 1
test "$(disk_files)" -eq 2
no_backup_job
restored_ok a1 vda vdb
