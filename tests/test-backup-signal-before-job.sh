#!/usr/bin/env bash
# SIGTERM once the journal is written but before (or as) the backup job
# starts, while the target files are being created: exit 6, and nothing is
# left behind (no checkpoint, no file, no journal); the next --auto is a
# sound full backup.
. "${srcdir:-.}/functions.sh"
set -e -x
lab_start
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom=sigbefore
R=$TMPD/repo
# Eight disks: eight target files to create before the job starts.
lab_domain_define "$dom" --disk 64M --disk 64M --disk 64M --disk 64M \
                  --disk 64M --disk 64M --disk 64M --disk 64M
lab_domain_start "$dom"
lab_write "$dom" vda 0x31 0 1M

# Whether vckpt ($pid) wrote its journal; fails the test if it ended.
journal_written ()
{
    grep -q 'journal written' "$TMPD/e" && return 0
    kill -0 $pid 2>/dev/null || { cat "$TMPD/e" >&2; fail "vckpt ended before writing its journal"; }
    return 1
}
"$VCKPT" --verbose backup "$dom" --repo "$R" --full --name b1 > "$TMPD/o" 2> "$TMPD/e" & pid=$!
wait_for 20 "vckpt writing its journal" journal_written
kill -TERM $pid
rc=0; wait $pid || rc=$?
cat "$TMPD/e"
test $rc -eq 6 || fail "SIGTERM before the job: exit $rc, want 6"
assert_grep "interrupted by signal 15 (before the backup job started: nothing was left behind|: the backup job was aborted, its checkpoint 'b1' deleted)" "$TMPD/e"
test "$(virsh -q checkpoint-list "$dom" --name)" = ""
test "$(vckpt --json list-backups "$dom" --repo "$R" | jq '.backups | length')" -eq 0
test "$(find "$R/$dom" -name '*.qcow2' | wc -l)" -eq 0
test ! -e "$R/$dom/pending.xml"
if virsh domjobinfo "$dom" | grep -q '^Operation: *Backup'; then fail "a backup job still runs"; fi

expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name b2
jq -e '.level == "full"' "$out"
mkdir "$TMPD/r"
expect_exit 0 vckpt restore "$dom" --repo "$R" --at b2 --disk vda --to "$TMPD/r"
lab_expect_pattern "$TMPD/r/vda.qcow2" 0 1M 0x31
