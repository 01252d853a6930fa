#!/usr/bin/env bash
# A bitmap no checkpoint owns (checkpoint metadata deleted with virsh
# --metadata): a checkpoint of that name fails inside QEMU with "Bitmap
# already exists".  repair, without a repository, removes the bitmap; then
# the checkpoint is created, and the next backups work and restore
# bit-exact.
. "${srcdir:-.}/repair-functions.sh"
rp_setup
img=$(rp_img)

expect_exit 0 vckpt checkpoint create "$dom" c1
lab_domain_stop "$dom"                      # c1 is saved in the image
virsh checkpoint-delete "$dom" c1 --metadata
test "$(lab_bitmaps "$img")" = c1

rp_validate
assert_finding "$out" bitmap-orphan disk=vda bitmap=c1 fix=redefine-checkpoint

# Before: the checkpoint fails in QEMU.
lab_domain_start "$dom"
expect_exit 1 vckpt checkpoint create "$dom" c1
grep -q "Bitmap already exists" "$err"
test -z "$(virsh -q checkpoint-list "$dom" --name)"
lab_domain_stop "$dom"

expect_exit 0 vckpt --json repair "$dom"
jq -e '.steps | length == 1' "$out"
jq -e '.steps[0] | .action == "remove-bitmap" and .state == "done" and .code == "bitmap-orphan"
       and .bitmap == "c1" and .disk == "vda"' "$out"
jq -e --arg img "$img" '.steps[0].image == $img' "$out"
jq -e '.failed == 0 and .refused == 0' "$out"
test -z "$(lab_bitmaps "$img")"
rp_validate
assert_no_finding "$out" bitmap-orphan

# After: the same name works, and so do backups from it.
lab_domain_start "$dom"
expect_exit 0 vckpt checkpoint create "$dom" c1
expect_exit 0 vckpt checkpoint delete "$dom" c1
rp_put 0x11 0 1M
rp_backup --full --name c1
rp_put 0x22 1M 1M
rp_backup --auto --name c2
jq -e '.level == "incremental" and .since == "c1"' "$out"
rp_restore_check
