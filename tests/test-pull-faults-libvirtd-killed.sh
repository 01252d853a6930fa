#!/usr/bin/env bash
# libvirtd killed during a pull backup (its QEMU runs on, and its NBD
# export with it): vckpt never claims a rollback it could not do; the
# journal stays and it says the next run finishes it.  After a restart of
# the daemon the next run ends what is left of the job, deletes the
# checkpoint, removes the files, and its own pull backup restores bit for
# bit.
. "${srcdir:-.}/functions.sh"
set -e -x
lab_start
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}
export VCKPT_LOCK_DIR=$TMPD/run

dom=daemonkill
R=$TMPD/repo
lab_domain_define "$dom" --disk 256M
lab_domain_start "$dom"
qemu-img create -q -f qcow2 "$TMPD/model-vda.qcow2" 256M
model_put vda 0x31 0 64M
qemu_pid() { cat "/proc/$LAB_DAEMON_PID/root/run/libvirt/qemu/$dom.pid"; }
qpid=$(qemu_pid)

hold_at pull-begun "$VCKPT" backup "$dom" --repo "$R" --full --pull --name dead1
lab_daemon_kill KILL
release
test "$rc" -eq 1 || fail "exit $rc, want 1"
assert_grep "the next vckpt run for this domain will finish it" "$TMPD/e"
assert_no_grep "deleted and|were removed" "$TMPD/e"
test -e "$R/$dom/pending.xml"

kill -0 "$qpid"
lab_daemon_restart
test "$(lab_domain_state "$dom")" = running

expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --pull --name a1
jq -e '.level == "full" and .checkpoint == "a1" and .job == "pull"' "$out"
assert_grep "cleaned up after interrupted backup .*its checkpoint 'dead1' deleted" "$err"
test "$(virsh -q checkpoint-list "$dom" --name | tr '\n' ' ')" = "a1 "
test ! -e "$R/$dom/pending.xml"
test "$(find "$R/$dom" -name '*.qcow2' | wc -l)" -eq 1
mkdir "$TMPD/r"
expect_exit 0 vckpt restore "$dom" --repo "$R" --at a1 --to "$TMPD/r"
qemu-img compare -q "$TMPD/model-vda.qcow2" "$TMPD/r/vda.qcow2"
