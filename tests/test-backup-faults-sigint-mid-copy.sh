#!/usr/bin/env bash
# SIGINT while the backup job copies: the job is aborted, exit 6, and
# nothing is left behind (no checkpoint, no file, no journal, no job).
. "${srcdir:-.}/faults-functions.sh"
set -e -x
faults_setup
faults_fill --no-model

start_backup backup "$dom" --repo "$R" --full --name int1
wait_job
kill -INT $pid
rc=0; wait $pid || rc=$?
cat "$TMPD/e"
test $rc -eq 6 || fail "SIGINT: exit $rc, want 6"
# The job is aborted (or, if the signal lands as libvirt reports the job's
# end, the backup is rolled back after it): either way exit 6, all undone.
grep -qE "interrupted by signal 2: the backup (job was aborted, its checkpoint 'int1' deleted|was rolled back \(checkpoint 'int1' deleted, files removed)" "$TMPD/e"
test "$(checkpoints)" = ""
test "$(nbackups)" -eq 0
test "$(disk_files)" -eq 0
test ! -e "$R/$dom/pending.xml"
no_backup_job
