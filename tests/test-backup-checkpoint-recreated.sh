#!/usr/bin/env bash
# The checkpoint a backup ended at is deleted and re-created under the same
# name with vckpt: it tracks changes only from its re-creation.  validate
# --repo and --incremental refuse it (checkpoint-replaced, exit 4), --auto
# starts a new full chain and records why, and its restore has every write.
. "${srcdir:-.}/functions.sh"
set -e -x
lab_start
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom=recreated
R=$TMPD/repo
lab_domain_define "$dom" --disk 64M
lab_domain_start "$dom"

lab_write "$dom" vda 0x10 0 1M
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name chk1
lab_write "$dom" vda 0x11 4M 1M                      # X
expect_exit 0 vckpt checkpoint delete "$dom" chk1
expect_exit 0 vckpt checkpoint create "$dom" chk1
lab_write "$dom" vda 0x12 8M 1M                      # Y

expect_exit 4 vckpt --json validate "$dom" --repo "$R"
assert_finding "$out" checkpoint-replaced severity=error "message~checkpoint 'chk1' is not the one backup full-"
expect_exit 4 vckpt --json backup "$dom" --repo "$R" --incremental chk1 --name bad
assert_finding "$out" checkpoint-replaced severity=error
test "$(virsh -q checkpoint-list "$dom" --name | sort | tr '\n' ' ')" = "chk1 "

expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name chk2
jq -e '.level == "full" and (.auto_reason | test("^checkpoint-replaced: "))' "$out"
vckpt --json list-backups "$dom" --repo "$R" |
    jq -e '.backups[-1].note | test("^auto: new full chain: checkpoint-replaced: ")'

mkdir "$TMPD/r"
expect_exit 0 vckpt restore "$dom" --repo "$R" --at chk2 --to "$TMPD/r"
lab_expect_pattern "$TMPD/r/vda.qcow2" 0 1M 0x10
lab_expect_pattern "$TMPD/r/vda.qcow2" 4M 1M 0x11 || fail "the restore lacks X"
lab_expect_pattern "$TMPD/r/vda.qcow2" 8M 1M 0x12

# The new chain's checkpoint is the one recorded: the next --auto stacks.
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name chk3
jq -e '.level == "incremental" and .since == "chk2"' "$out"
expect_exit 0 vckpt validate "$dom" --repo "$R"
