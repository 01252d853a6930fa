#!/usr/bin/env bash
# Every stop signal while repair works through its steps (bitmaps left
# in-use on two disks by a killed QEMU: remove each, then the checkpoint's
# metadata): the signal as qemu-img removes the first bitmap ends the run
# after that step, exit 6, saying what is done and what is not; the next
# repair does the rest, and the run after that finds nothing to do.
. "${srcdir:-.}/signals-functions.sh"
. "${srcdir:-.}/repair-functions.sh"
sig_requires
rp_setup --disk 32M --disk 32M
vdb=$(lab_disk_path "$dom" vdb)
repair=("$VCKPT" --json repair "$dom" --repo "$R")

for sig in $STOP_SIGNALS; do
    rp_put 0x11 0 1M
    rp_backup --auto --name "c$sig"
    lab_domain_stop "$dom"                  # the bitmaps saved in the images
    lab_domain_start "$dom"
    lab_domain_kill "$dom"                  # and left in-use there
    test "$(lab_bitmap_flags "$vdb" "c$sig")" = "auto in-use"

    sig_at "$sig" clone3 1 -- "${repair[@]}"
    sig_stopped "$sig"
    grep -q "1 step done, 2 not started; run repair again to finish" "$TMPD/e"
    sig_at "$sig" clone3 1 -- "${repair[@]}"
    sig_stopped "$sig"
    grep -q "1 step done, 1 not started" "$TMPD/e"
    test -z "$(lab_bitmaps "$(rp_img)")$(lab_bitmaps "$vdb")"
    virsh -q checkpoint-list "$dom" --name | grep -qx "c$sig"

    expect_exit 0 vckpt --json repair "$dom" --repo "$R"
    jq -e '[.steps[] | .action] == ["delete-checkpoint-metadata"]' "$out"
    test -z "$(virsh -q checkpoint-list "$dom" --name)"
    expect_exit 0 vckpt repair "$dom" --repo "$R"
    grep -q "^Nothing to repair in $dom" "$out"
    lab_domain_start "$dom"
done
rp_put 0x22 1M 1M
rp_backup --auto --name last
rp_restore_check
