#!/usr/bin/env bash
# A checkpoint whose bitmap is gone from the image (removed by hand):
# repair deletes its metadata only.  Its child does not depend on it (in
# libvirt 9.0 every checkpoint's bitmap records from its creation on), so
# the child stays, is re-parented, and an incremental backup from it
# restores bit-exact.
. "${srcdir:-.}/repair-functions.sh"
rp_setup
img=$(rp_img)

rp_put 0x11 0 1M
rp_backup --full --name c1
rp_put 0x22 1M 1M
rp_backup --incremental c1 --name c2
lab_domain_stop "$dom"
qemu-img bitmap --remove "$img" c1
rp_validate
assert_finding "$out" checkpoint-bitmap-missing checkpoint=c1 fix=delete-checkpoint-metadata

expect_exit 0 vckpt --json repair "$dom" --repo "$R"
jq -e '[.steps[] | {action, checkpoint, state}] ==
       [{"action": "delete-checkpoint-metadata", "checkpoint": "c1", "state": "done"}]' "$out"
jq -e '.next_backup.full == false' "$out"
test "$(virsh -q checkpoint-list "$dom" --name)" = c2
if virsh checkpoint-parent "$dom" c2; then fail "c2 still has a parent"; fi
test "$(lab_bitmaps "$img")" = c2
rp_validate
assert_no_finding "$out" checkpoint-bitmap-missing
jq -e '.findings == [] and .checkpoint == "c2"' "$out"

lab_domain_start "$dom"
rp_put 0x33 2M 1M
rp_backup --auto --name c3
jq -e '.level == "incremental" and .since == "c2"' "$out"
rp_restore_check
