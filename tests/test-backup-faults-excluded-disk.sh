#!/usr/bin/env bash
# An excluded disk: the increment has vda only; the next --auto copies
# vdb, which that backup and its checkpoint lack, whole in the same
# incremental job (disk-not-covered); every point restores bit for bit.
. "${srcdir:-.}/faults-functions.sh"
set -e -x
faults_setup
put vda 0x31 0 1M
put vdb 0x41 0 1M
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name a2

put vda 0x34 700M 1M
put vdb 0x42 4M 1M
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --exclude vdb --name a3
jq -e '.level == "incremental" and .since == "a2"' "$out"
test "$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[-1].disks | map(.target) | join(",")')" = vda
restored_ok a3 vda
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name a4
jq -e '.level == "incremental" and .since == "a3" and .auto_reason == null' "$out"
jq -e '.preflight.whole == ["vdb"]' "$out"
jq -e '[.preflight.findings[] | select(.code == "disk-not-covered") | .disk] == ["vdb"]' "$out"
restored_ok a4 vda vdb
expect_exit 0 vckpt verify "$dom" --repo "$R"
