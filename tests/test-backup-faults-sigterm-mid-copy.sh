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
grep -q "interrupted by signal 15: the backup job was aborted, its checkpoint 'term1' deleted" "$TMPD/e"
test "$(checkpoints)" = ""
test "$(nbackups)" -eq 0
test "$(disk_files)" -eq 0
test ! -e "$R/$dom/pending.xml"
no_backup_job
