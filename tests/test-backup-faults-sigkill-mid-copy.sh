#!/usr/bin/env bash
# SIGKILL while the backup job copies: the job goes on in libvirt and the
# journal stays; the manifest lists nothing; the next --auto run finishes
# the cleanup (job aborted or done, checkpoint deleted, files removed),
# makes a full backup, and it restores bit for bit.
. "${srcdir:-.}/faults-functions.sh"
set -e -x
faults_setup
faults_fill

start_backup backup "$dom" --repo "$R" --full --name kill1
wait_job
kill -KILL $pid
wait $pid || true
test -e "$R/$dom/pending.xml"
expect_exit 0 vckpt --json list-backups "$dom" --repo "$R"
jq -e '(.backups | length) == 0' "$out"
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name a1
jq -e '.level == "full" and .checkpoint == "a1"' "$out"
grep -q "cleaned up after interrupted backup .*: partial files removed; its checkpoint 'kill1' deleted" "$err"
test "$(checkpoints)" = "a1 "
test "$(nbackups)" -eq 1
test "$(disk_files)" -eq 2
test ! -e "$R/$dom/pending.xml"
restored_ok a1 vda vdb
