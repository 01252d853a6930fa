#!/usr/bin/env bash
# libvirtd is killed in the middle of a backup job, then restarted with the
# guest still running: vckpt must not claim a rollback it could not do; it
# keeps the journal and says the next run finishes it; the next run
# deletes the checkpoint left behind, removes the files, and its backup
# restores bit-exact.
. "${srcdir:-.}/functions.sh"
set -e -x
lab_start
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom=daemonkill
R=$TMPD/repo
lab_domain_define "$dom" --disk 1G
lab_domain_start "$dom"
qemu-img create -q -f qcow2 "$TMPD/model-vda.qcow2" 1G
model_put vda 0x31 0 256M
model_put vda 0x32 256M 256M
qemu_pid() { cat "/proc/$LAB_DAEMON_PID/root/run/libvirt/qemu/$dom.pid"; }
qpid=$(qemu_pid)

# QEMU is stopped (SIGSTOP) as soon as the job shows, so that the job is
# surely still running when libvirtd dies: a job of 512 MiB ends in well
# under a second.  QEMU goes on (SIGCONT) once libvirtd is dead.
# Whether libvirt runs a backup job of $dom; fails the test if $pid ended.
job_started ()
{
    virsh domjobinfo "$dom" | grep -q '^Operation: *Backup' && return 0
    kill -0 $pid 2>/dev/null || { cat "$TMPD/e" >&2; fail "vckpt ended before its job started"; }
    return 1
}
"$VCKPT" backup "$dom" --repo "$R" --full --name dead1 > "$TMPD/o" 2> "$TMPD/e" & pid=$!
wait_for 20 "the backup job" job_started
kill -STOP "$qpid"
cleanup_fn kill -CONT "$qpid"
lab_daemon_kill KILL
kill -CONT "$qpid"
rc=0; wait $pid || rc=$?
cat "$TMPD/e"
test $rc -eq 1 || fail "exit $rc, want 1"
assert_grep "the rollback is not complete \(checkpoint 'dead1' could not be deleted: libvirtd unreachable\); the next vckpt run for this domain will finish it" "$TMPD/e"
assert_no_grep "deleted and|were removed" "$TMPD/e"
test -e "$R/$dom/pending.xml"

# The guest ran on; the restarted daemon sees it running, with its QEMU.
kill -0 "$qpid"
lab_daemon_restart
test "$(lab_domain_state "$dom")" = running
test "$(qemu_pid)" = "$qpid"

# The next run finishes the rollback, then backs up.
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name a1
jq -e '.level == "full" and .checkpoint == "a1"' "$out"
assert_grep "cleaned up after interrupted backup .*: partial files removed; its checkpoint 'dead1' deleted" "$err"
test "$(virsh -q checkpoint-list "$dom" --name | tr '\n' ' ')" = "a1 "
test ! -e "$R/$dom/pending.xml"
test "$(find "$R/$dom" -name '*.qcow2' | wc -l)" -eq 1
mkdir "$TMPD/r"
expect_exit 0 vckpt restore "$dom" --repo "$R" --at a1 --to "$TMPD/r"
qemu-img compare -q "$TMPD/model-vda.qcow2" "$TMPD/r/vda.qcow2"
expect_exit 0 vckpt verify "$dom" --repo "$R"
