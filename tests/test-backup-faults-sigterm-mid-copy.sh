#!/usr/bin/env bash
# SIGTERM while the backup job copies (systemd stopping a timer's
# service) is handled as SIGINT is: aborted, exit 6, nothing left behind.
. "${srcdir:-.}/faults-functions.sh"
set -e -x
faults_setup
faults_fill --no-model

start_backup backup "$dom" --repo "$R" --full --name term1
wait_job
kill -TERM $pid
rc=0; wait $pid || rc=$?
cat "$TMPD/e"
test $rc -eq 6 || fail "SIGTERM: exit $rc, want 6"
# The job is aborted (or, if the signal lands as libvirt reports the job's
# end, the backup is rolled back after it): either way exit 6, all undone.
grep -qE "interrupted by signal 15: the backup (job was aborted, its checkpoint 'term1' deleted|was rolled back \(checkpoint 'term1' deleted, files removed)" "$TMPD/e"
test "$(checkpoints)" = ""
test "$(nbackups)" -eq 0
test "$(disk_files)" -eq 0
test ! -e "$R/$dom/pending.xml"
no_backup_job
