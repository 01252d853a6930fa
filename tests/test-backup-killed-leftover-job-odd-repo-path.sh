#!/usr/bin/env bash
# A backup killed with SIGKILL mid-job into a repository whose path holds
# '&' and "'" (which libvirt escapes in its backup XML): the next run
# recognises the job left running as its own (the target file names, read
# with XPath, equal the journal's exactly), aborts it and rolls it back,
# then makes a backup whose restore is bit-exact.
. "${srcdir:-.}/functions.sh"
set -e -x
lab_start
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom=oddpath
R="$TMPD/a&b's repo"
lab_domain_define "$dom" --disk 1G
lab_domain_start "$dom"
qemu-img create -q -f qcow2 "$TMPD/model.qcow2" 1G
put() {
    lab_write "$dom" vda "$1" "$2" "$3"
    qemu-io -f qcow2 -c "write -P $1 $2 $3" "$TMPD/model.qcow2" >/dev/null
}
# Enough data that the job is still running when vckpt is killed.
put 0x51 0 256M
put 0x52 256M 256M

# Whether libvirt runs a backup job of $dom; fails the test if $pid ended.
job_started ()
{
    virsh domjobinfo "$dom" | grep -q '^Operation: *Backup' && return 0
    kill -0 $pid 2>/dev/null || { cat "$TMPD/e" >&2; fail "vckpt ended before its job started"; }
    return 1
}
"$VCKPT" backup "$dom" --repo "$R" --full --name kill1 > "$TMPD/o" 2> "$TMPD/e" & pid=$!
wait_for 20 "the backup job" job_started
kill -KILL $pid
wait $pid || true
# The job goes on in QEMU, writing into the repository.  Freeze QEMU so that
# it cannot end before the next run has looked at it: libvirt still
# describes the job (from its own state), and the next run's abort waits
# for QEMU, which goes on once that run said it recognised the job.
qpid=$(cat "/proc/$LAB_DAEMON_PID/root/run/libvirt/qemu/$dom.pid")
case "$(cat "/proc/$qpid/comm")" in qemu*) ;; *) fail "$qpid is not QEMU" ;; esac
kill -STOP "$qpid"
cleanup_fn kill -CONT "$qpid"
virsh backup-dumpxml "$dom" > "$TMPD/job.xml" ||
    fail "the job ended before the test could look: give it more data"
grep -q "a&amp;b" "$TMPD/job.xml" || fail "libvirt no longer escapes '&'"
test -e "$R/$dom/pending.xml"

vckpt --json backup "$dom" --repo "$R" --auto --name a1 > "$TMPD/out" 2> "$TMPD/err" & pid=$!
# The next run says it recognised the job (or it ended: checked below).
recognised_or_ended ()
{
    grep -q "aborting the backup job an interrupted vckpt run left behind" "$TMPD/err" &&
        return 0
    if kill -0 $pid 2>/dev/null; then
        return 1        # still running, not recognised yet
    fi
    return 0
}
wait_for 120 "the next run recognising the job" recognised_or_ended
kill -CONT "$qpid"
rc=0; wait $pid || rc=$?
cat "$TMPD/err"
test $rc -eq 0 || fail "the next run failed: exit $rc"
out=$TMPD/out err=$TMPD/err
assert_grep "aborting the backup job an interrupted vckpt run left behind" "$err"
assert_grep "cleaned up after interrupted backup .*: partial files removed; its checkpoint 'kill1' deleted" "$err"
jq -e '.level == "full" and .checkpoint == "a1"' "$out"
test "$(virsh -q checkpoint-list "$dom" --name | tr -d ' \n')" = a1
test ! -e "$R/$dom/pending.xml"
if virsh domjobinfo "$dom" | grep -q '^Operation: *Backup'; then
    fail "a backup job still runs"
fi

dir=$(mktemp -d "$TMPD/r.XXXXXX")
expect_exit 0 vckpt restore "$dom" --repo "$R" --at a1 --to "$dir"
qemu-img compare -q "$TMPD/model.qcow2" "$dir/vda.qcow2" || fail "restored vda differs"
