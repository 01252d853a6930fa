#!/usr/bin/env bash
# A pull backup into a repository that fills up during the copy
# (--no-validate skips the space estimate): the write error of vckpt's
# writer is reported (exit 1), libvirt's job ends, the checkpoint goes,
# nothing is left in the repository or next to the disks.
. "${srcdir:-.}/faults-functions.sh"
set -e -x
export VCKPT_LOCK_DIR=$TMPD/run
faults_setup --small-fs
put vda 0x31 0 96M
put vdb 0x41 0 1M
images=$(dirname "$(lab_disk_path "$dom" vda)")

expect_exit 1 vckpt backup "$dom" --repo "$TMPD/small" --full --pull --no-validate --name nospace
grep -qi "no space left" "$err"
test "$(checkpoints)" = ""
no_backup_job
test "$(nbackups "$TMPD/small")" -eq 0
test "$(disk_files "$TMPD/small")" -eq 0
test "$(df --output=used -k "$TMPD/small" | tail -1)" -lt 1024
if ls "$images" | grep -q vckpt-scratch; then fail "scratch left: $(ls "$images")"; fi
test -z "$(ls -A "$TMPD/run-nbd")"
# Compressed, 96 MiB of one byte value fit (the estimate, the allocation,
# does not: --no-validate); the backup works.
expect_exit 0 vckpt --json backup "$dom" --repo "$TMPD/small" --full --compress --no-validate --name fits
jq -e '.job == "pull" and .compressed' "$out"
R=$TMPD/small restored_ok fits vda vdb
