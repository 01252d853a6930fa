#!/usr/bin/env bash
# An older file of a chain (the full backup under two incrementals) is
# missing.  --auto must not fail on every run forever: it starts a new full
# chain and records why; --incremental refuses with exit 4; the new point
# restores bit-exact.
. "${srcdir:-.}/functions.sh"
set -e -x
lab_start
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom=missingfile
R=$TMPD/repo
lab_domain_define "$dom" --disk 64M
lab_domain_start "$dom"

lab_write "$dom" vda 0x31 0 1M
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name m1
lab_write "$dom" vda 0x32 2M 1M
expect_exit 0 vckpt backup "$dom" --repo "$R" --auto --name m2
lab_write "$dom" vda 0x33 4M 1M
f=$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[0].disks[0].file')
rm "$R/$dom/$f"

expect_exit 4 vckpt --json backup "$dom" --repo "$R" --incremental m2 --name bad
assert_finding "$out" previous-backup-damaged severity=error
if virsh checkpoint-info "$dom" bad >/dev/null 2>&1; then fail "a refused backup left checkpoint 'bad'"; fi

expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name m3
jq -e '.level == "full" and (.auto_reason | test("^previous-backup-damaged vda: .*'"$(basename "$f")"'"))' "$out"

mkdir "$TMPD/r"
expect_exit 0 vckpt restore "$dom" --repo "$R" --at m3 --to "$TMPD/r"
lab_expect_pattern "$TMPD/r/vda.qcow2" 0 1M 0x31
lab_expect_pattern "$TMPD/r/vda.qcow2" 2M 1M 0x32
lab_expect_pattern "$TMPD/r/vda.qcow2" 4M 1M 0x33
