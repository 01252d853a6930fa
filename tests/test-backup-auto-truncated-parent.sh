#!/usr/bin/env bash
# The full backup a chain stacks on is truncated in the repository.  Today's
# --auto must not add an incremental on top of it (its restore would be
# wrong): validate --repo reports previous-backup-damaged, --incremental
# refuses (exit 4, no checkpoint left), --auto starts a new full chain and
# records why, and the new point restores bit-exact.
. "${srcdir:-.}/functions.sh"
set -e -x
lab_start
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom=truncparent
R=$TMPD/repo
lab_domain_define "$dom" --disk 64M
lab_domain_start "$dom"
checkpoints() { virsh -q checkpoint-list "$dom" --name | sort | tr '\n' ' '; }

lab_write "$dom" vda 0x21 0 4M
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name t1
lab_write "$dom" vda 0x22 8M 1M
f=$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[0].disks[0].file')
size=$(stat -c %s "$R/$dom/$f")
truncate -s $((size / 2)) "$R/$dom/$f"

expect_exit 4 vckpt --json validate "$dom" --repo "$R"
jq -e '[.findings[] | select(.code == "previous-backup-damaged" and .disk == "vda")] | length == 1' "$out"
expect_exit 4 vckpt --json backup "$dom" --repo "$R" --incremental t1 --name bad
jq -e '.preflight.ok == false and [.preflight.findings[] | select(.code == "previous-backup-damaged" and .disk == "vda")] != []' "$out"
assert_eq "t1 " "$(checkpoints)" "a refused backup left a checkpoint"
assert_eq 1 "$(vckpt --json list-backups "$dom" --repo "$R" | jq '.backups | length')"

expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name t2
jq -e '.level == "full" and (.auto_reason | test("^previous-backup-damaged vda: "))' "$out"
vckpt --json list-backups "$dom" --repo "$R" |
    jq -e '.backups[-1].note | test("^auto: new full chain: previous-backup-damaged ")'

mkdir "$TMPD/r"
expect_exit 0 vckpt restore "$dom" --repo "$R" --at t2 --to "$TMPD/r"
lab_expect_pattern "$TMPD/r/vda.qcow2" 0 4M 0x21
lab_expect_pattern "$TMPD/r/vda.qcow2" 8M 1M 0x22
lab_expect_pattern "$TMPD/r/vda.qcow2" 4M 4M zero

# The new chain is sound: the next --auto stacks on it.
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name t3
jq -e '.level == "incremental" and .since == "t2"' "$out"
