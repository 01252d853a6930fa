#!/usr/bin/env bash
# libvirtd is killed right after the backup job ended, before vckpt could
# read the job's result: vckpt must not claim a rollback it could not do;
# it keeps the journal and says the next run finishes it; after the
# daemon restarts (the guest ran on), the next run deletes the checkpoint
# left behind, removes the files, and its backup restores bit-exact.
. "${srcdir:-.}/functions.sh"
set -e -x
lab_start
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom=afterjob
R=$TMPD/repo
lab_domain_define "$dom" --disk 1G
lab_domain_start "$dom"
qemu-img create -q -f qcow2 "$TMPD/model-vda.qcow2" 1G
# 512M of data: the job lasts long enough to be held in the middle.
lab_write "$dom" vda 0x31 0 512M
qemu-io -f qcow2 -c "write -P 0x31 0 512M" "$TMPD/model-vda.qcow2" >/dev/null
qpid=$(cat "/proc/$LAB_DAEMON_PID/root/run/libvirt/qemu/$dom.pid")
jobstate() { virsh domjobinfo "$dom" | awk '/^Job type:/ { print $3 }'; }

# Whether the backup job runs; fails the test if vckpt ($pid) ended.
job_runs ()
{
    [ "$(jobstate)" = Unbounded ] && return 0
    kill -0 $pid 2>/dev/null || { cat "$TMPD/e" >&2; fail "vckpt ended before its job started"; }
    return 1
}
job_ended () { [ "$(jobstate)" = None ]; }

"$VCKPT" backup "$dom" --repo "$R" --full --name dead1 > "$TMPD/o" 2> "$TMPD/e" & pid=$!
wait_for 20 "the backup job" job_runs
# Hold vckpt while QEMU finishes the job, then take libvirtd away.
kill -STOP $pid
cleanup_fn kill -CONT $pid
wait_for 60 "the backup job ending" job_ended
test "$(virsh -q checkpoint-list "$dom" --name)" = dead1
lab_daemon_kill KILL
kill -CONT $pid
rc=0; wait $pid || rc=$?
cat "$TMPD/e"
test $rc -eq 1 || fail "exit $rc, want 1"
assert_grep "the rollback is not complete \(checkpoint 'dead1' could not be deleted: libvirtd unreachable\); the next vckpt run for this domain will finish it" "$TMPD/e"
assert_no_grep "deleted and|were removed" "$TMPD/e"
test -e "$R/$dom/pending.xml"

lab_daemon_restart
test "$(lab_domain_state "$dom")" = running
test "$(cat "/proc/$LAB_DAEMON_PID/root/run/libvirt/qemu/$dom.pid")" = "$qpid"
test "$(virsh -q checkpoint-list "$dom" --name)" = dead1

expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name a1
jq -e '.level == "full" and .checkpoint == "a1"' "$out"
assert_grep "cleaned up after interrupted backup .*: partial files removed; its checkpoint 'dead1' deleted" "$err"
test "$(virsh -q checkpoint-list "$dom" --name | tr '\n' ' ')" = "a1 "
test ! -e "$R/$dom/pending.xml"
test "$(find "$R/$dom" -name '*.qcow2' | wc -l)" -eq 1
mkdir "$TMPD/r"
expect_exit 0 vckpt restore "$dom" --repo "$R" --at a1 --to "$TMPD/r"
qemu-img compare -q "$TMPD/model-vda.qcow2" "$TMPD/r/vda.qcow2"
