#!/usr/bin/env bash
# validate --repo answers "would tonight's backup --auto work?": it checks
# an incremental from the repository's newest backup, not from libvirt's
# newest checkpoint (a manual checkpoint made since must not turn it into a
# false refusal), and a full backup when the repository has none.  Each
# verdict is followed by the --auto backup it predicts.
. "${srcdir:-.}/functions.sh"
set -e -x
lab_start

dom=predict
R=$TMPD/repo
lab_domain_define "$dom" --disk 64M
lab_domain_start "$dom"
lab_write "$dom" vda 0x41 0 1M

# No backup yet, but a checkpoint in libvirt: --auto makes a full backup.
expect_exit 0 vckpt checkpoint create "$dom" early
expect_exit 0 vckpt --json validate "$dom" --repo "$R"
jq -e '.ok and .checkpoint == null' "$out"
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name b1
jq -e '.level == "full"' "$out"

# A manual checkpoint after the backup: still an incremental from b1.
lab_write "$dom" vda 0x42 2M 1M
expect_exit 0 vckpt checkpoint create "$dom" manual
expect_exit 0 vckpt --json validate "$dom" --repo "$R"
jq -e '.ok and .checkpoint == "b1"' "$out"
assert_no_finding "$out" previous-backup-missing
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name b2
jq -e '.level == "incremental" and .since == "b1"' "$out"

# An explicit --checkpoint is still validated as asked.
expect_exit 4 vckpt --json validate "$dom" --repo "$R" --checkpoint manual
assert_finding "$out" previous-backup-missing

mkdir "$TMPD/r"
expect_exit 0 vckpt restore "$dom" --repo "$R" --at b2 --to "$TMPD/r"
lab_expect_pattern "$TMPD/r/vda.qcow2" 0 1M 0x41
lab_expect_pattern "$TMPD/r/vda.qcow2" 2M 1M 0x42
