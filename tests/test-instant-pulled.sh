#!/usr/bin/env bash
# Instant recovery from pulled backups (backup --pull: a full and an
# incremental, their qcow2 files written by vckpt's own writer, the
# increment with clusters of zeros): restore --instant starts a domain on
# overlays over them (its QEMU reads the writer's tables live), then
# restore --finish copies its disk onto a standalone image while it runs:
# the image holds exactly what was written by the incremental, and the
# repository's files are unchanged (verify passes).
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/drill-functions.sh"
set -e -x
requires_root
# Pull mode's sockets are in $VCKPT_LOCK_DIR-nbd, which the lab's QEMU
# must see: the lab's /run is its own, $TMPD is shared.
export VCKPT_LOCK_DIR=$TMPD/run
lab_start
dom=d1
R=$TMPD/repo
I=$TMPD/instant
F=$TMPD/final
mkdir "$I" "$F"
lab_domain_define "$dom" --disk 16M
lab_domain_start "$dom"
qemu-img create -q -f qcow2 "$TMPD/model-vda.qcow2" 16M
model_put vda 0x71 0 4M
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --full --pull --name c1
jq -e '.job == "pull"' "$out"
model_put vda 0x72 1M 1M
lab_write "$dom" vda zero 3M 512K
qemu-io -f qcow2 -c "write -z 3M 512K" "$TMPD/model-vda.qcow2" > /dev/null
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --pull --name c2
jq -e '.job == "pull" and .level == "incremental"' "$out"
lab_domain_stop "$dom"
f=$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[1].disks[0].file')
qemu-img check -q "$R/$dom/$f"
# The increment records the zeros as zeros of its own.
qemu-img map --output=json "$R/$dom/$f" |
    jq -e '[.[] | select(.start == 3145728 and .zero and .depth == 0)] | length == 1'
before=$(drill_sums "$R")

expect_exit 0 vckpt restore "$dom" --instant --define n1 --to "$I" --repo "$R"
test "$(lab_domain_state n1)" = running
expect_exit 0 vckpt restore --finish n1 --to "$F" --repo "$R"
test "$(lab_domain_state n1)" = running
lab_domain_stop n1
qemu-img info --output=json "$F/n1-vda.qcow2" | jq -e 'has("backing-filename") | not'
qemu-img compare -q "$TMPD/model-vda.qcow2" "$F/n1-vda.qcow2" ||
    fail "the instant domain's disk differs from what was written"

assert_eq "$before" "$(drill_sums "$R")" "backup files changed"
expect_exit 0 vckpt --json verify "$dom" --repo "$R"
jq -e '.errors == 0 and .warnings == 0' "$out"
