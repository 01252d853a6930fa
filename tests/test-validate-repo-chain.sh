#!/usr/bin/env bash
# validate --repo, the repository side of the preflight, read-only: on a
# chain it predicts an incremental; a checkpoint no backup ended at is
# ignored by --auto and refused as the parent of an incremental
# (previous-backup-missing, exit 4); an empty repository (not created)
# predicts a full backup and refuses an incremental.
. "${srcdir:-.}/backup-functions.sh"
bf_setup

expect_exit 0 vckpt validate "$dom" --repo "$R"
grep -q '^OK: an incremental backup' "$out"
# A checkpoint no backup ended at: --auto ignores it (validate --repo
# predicts --auto), an incremental from it is refused.
expect_exit 0 vckpt checkpoint create "$dom" loose
expect_exit 0 vckpt --json validate "$dom" --repo "$R"
assert_no_finding "$out" previous-backup-missing
expect_exit 4 vckpt --json validate "$dom" --repo "$R" --checkpoint loose
assert_finding "$out" previous-backup-missing severity=error "message~no complete backup that ended at checkpoint 'loose'"
# An empty repository: --auto would start with a full backup.
expect_exit 0 vckpt --json validate "$dom" --repo "$TMPD/empty-repo"
jq -e '.checkpoint == null' "$out"
expect_exit 4 vckpt --json validate "$dom" --repo "$TMPD/empty-repo" --checkpoint loose
assert_finding "$out" previous-backup-missing severity=error checkpoint=loose \
               "message~no complete backup that ended at checkpoint 'loose'"
test ! -e "$TMPD/empty-repo"
expect_exit 0 vckpt validate "$dom" --full --repo "$TMPD/empty-repo"
expect_exit 0 vckpt checkpoint delete "$dom" loose
