#!/usr/bin/env bash
# Bad input to backup: a missing or doubled mode, a bad name, an unknown
# domain or disk (usage 2, not found 3), an incremental from a checkpoint
# no backup ended at (preflight 4, previous-backup-missing), a checkpoint
# name that exists (2).  Nothing is started: the checkpoints and the
# backups of the repository are as before.
. "${srcdir:-.}/backup-functions.sh"
bf_setup

expect_exit 2 vckpt backup "$dom" --repo "$R"
grep -q 'a mode option is required' "$err"
expect_exit 2 vckpt backup "$dom" --repo "$R" --full --auto
expect_exit 2 vckpt backup "$dom" --repo "$R" --full --name 'a/b'
expect_exit 3 vckpt backup 'no such domain' --repo "$R" --full
expect_exit 3 vckpt backup "$dom" --repo "$R" --full --disk vdz
expect_exit 4 vckpt --json backup "$dom" --repo "$R" --incremental nochk
assert_finding "$out" previous-backup-missing severity=error
expect_exit 2 vckpt backup "$dom" --repo "$R" --full --name k4
grep -q "checkpoint 'k4' already exists" "$err"
test "$(virsh -q checkpoint-list "$dom" --name | sort | tr '\n' ' ')" = "k0 k4 "
test "$(jq -r '.backups | length' <(vckpt --json list-backups "$dom" --repo "$R"))" = 5
