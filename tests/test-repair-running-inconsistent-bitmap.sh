#!/usr/bin/env bash
# Running again after QEMU was killed: QEMU loaded the checkpoint's bitmap
# as inconsistent.  repair on the running domain is allowed to delete the
# checkpoint through libvirt, which removes the bitmap through QEMU (no
# image surgery behind QEMU's back); the next backup is full and restores
# bit-exact.
. "${srcdir:-.}/repair-functions.sh"
rp_setup
img=$(rp_img)

rp_put 0x11 0 1M
rp_backup --full --name c1
lab_domain_stop "$dom"
lab_domain_start "$dom"
lab_domain_kill "$dom"
lab_domain_start "$dom"
rp_validate
assert_finding "$out" bitmap-inconsistent checkpoint=c1

expect_exit 0 vckpt --json repair "$dom" --repo "$R"
jq -e '.running == true' "$out"
jq -e '[.steps[] | {action, checkpoint, state}] ==
       [{"action": "delete-checkpoint", "checkpoint": "c1", "state": "done"}]' "$out"
jq -e '.next_backup.full == true' "$out"
test -z "$(virsh -q checkpoint-list "$dom" --name)"
rp_validate
assert_no_finding "$out" bitmap-inconsistent
jq -e '.errors == 0 and .warnings == 0' "$out"

rp_put 0x22 1M 1M
rp_backup --auto --name c2
jq -e '.level == "full"' "$out"
rp_restore_check
# QEMU dropped the bitmap: only the new c2 reaches the image.
lab_domain_stop "$dom"
test "$(lab_bitmaps "$img")" = c2
test "$(lab_bitmap_flags "$img" c2)" = auto
