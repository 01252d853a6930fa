#!/usr/bin/env bash
# SIGTERM while vckpt hashes the new backup files (after the job, before
# the commit): never a silent death.  Either exit 6 with everything rolled
# back (no checkpoint, no file, no journal), or, had the commit already
# happened, exit 0 saying the backup is complete, and it restores exactly.
. "${srcdir:-.}/functions.sh"
set -e -x
lab_start
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom=sighash
R=$TMPD/repo
lab_domain_define "$dom" --disk 1G
lab_domain_start "$dom"
qemu-img create -q -f qcow2 "$TMPD/model-vda.qcow2" 1G
put() {
    lab_write "$dom" "$1" "$2" "$3" "$4"
    qemu-io -f qcow2 -c "write -P $2 $3 $4" "$TMPD/model-$1.qcow2" >/dev/null
}
# 512M of data: hashing the new file takes long enough to be caught.
put vda 0x31 0 256M
put vda 0x32 256M 256M

"$VCKPT" --verbose backup "$dom" --repo "$R" --full --name h1 > "$TMPD/o" 2> "$TMPD/e" & pid=$!
# The phase: the job ran and ended, the journal is still there.
jobstate() { virsh domjobinfo "$dom" | awk '/^Job type:/ { print $3 }'; }
# Whether the backup job runs; fails the test if vckpt ($pid) ended.
job_runs ()
{
    [ "$(jobstate)" = Unbounded ] && return 0
    kill -0 $pid 2>/dev/null || { cat "$TMPD/e" >&2; fail "vckpt ended before its job started"; }
    return 1
}
job_ended () { [ "$(jobstate)" = None ]; }
wait_for 60 "the backup job" job_runs
wait_for 30 "the backup job ending" job_ended
test -e "$R/$dom/pending.xml" || { cat "$TMPD/e" >&2; fail "already committed: hashing not caught"; }
kill -TERM $pid
rc=0; wait $pid || rc=$?
cat "$TMPD/e"
backups=$(vckpt --json list-backups "$dom" --repo "$R" | jq '.backups | length')
case $rc in
    6)
        assert_grep "interrupted by signal 15: the backup was rolled back \(checkpoint 'h1' deleted, files removed\)" "$TMPD/e"
        test "$(virsh -q checkpoint-list "$dom" --name)" = ""
        test "$backups" -eq 0
        test "$(find "$R/$dom" -name '*.qcow2' | wc -l)" -eq 0
        test ! -e "$R/$dom/pending.xml"
        ;;
    0)
        assert_grep "signal 15 came too late to stop the backup: it was committed and is complete" "$TMPD/e"
        test "$(virsh -q checkpoint-list "$dom" --name)" = h1
        test "$backups" -eq 1
        test ! -e "$R/$dom/pending.xml"
        mkdir "$TMPD/r"
        expect_exit 0 vckpt restore "$dom" --repo "$R" --at h1 --to "$TMPD/r"
        qemu-img compare -q "$TMPD/model-vda.qcow2" "$TMPD/r/vda.qcow2"
        ;;
    *) fail "SIGTERM while hashing: exit $rc, want 6 (rolled back) or 0 (complete)" ;;
esac
# Either way the next --auto is sound.
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name h2
mkdir "$TMPD/r2"
expect_exit 0 vckpt restore "$dom" --repo "$R" --at h2 --to "$TMPD/r2"
qemu-img compare -q "$TMPD/model-vda.qcow2" "$TMPD/r2/vda.qcow2"
