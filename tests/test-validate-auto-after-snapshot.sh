#!/usr/bin/env bash
# backup --auto after an external disk-only snapshot of the running domain
# goes on with an incremental (the validator judges the overlay by QEMU's
# live state) instead of starting a needless full chain, and the restore
# equals the disk.
. "${srcdir:-.}/functions.sh"
set -e -x
lab_start

dom=autosnap
R=$TMPD/repo
lab_domain_define "$dom" --disk 64M
lab_domain_start "$dom"
images=$(dirname "$(lab_disk_path "$dom" vda)")
lab_write "$dom" 0 0x0f 0 4M
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --full --name k0
lab_write "$dom" 0 0x11 0 1M
virsh snapshot-create-as "$dom" --disk-only --atomic --no-metadata \
      --diskspec "vda,file=$images/ov1.qcow2"
lab_write "$dom" 0 0x22 1M 1M
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name k1
test "$(jq -r '.level, .since, .auto_reason' "$out" | tr '\n' ' ')" = "incremental k0 null "
virsh snapshot-create-as "$dom" s2 --disk-only --atomic --diskspec "vda,file=$images/ov2.qcow2"
lab_write "$dom" 0 0x33 2M 1M
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name k2
test "$(jq -r '.level, .since, .auto_reason' "$out" | tr '\n' ' ')" = "incremental k1 null "
lab_domain_stop "$dom"
mkdir "$TMPD/r"
expect_exit 0 vckpt restore "$dom" --repo "$R" --at k2 --to "$TMPD/r"
lab_compare_images "$images/ov2.qcow2" "$TMPD/r/vda.qcow2" ||
    fail "the restore differs from the disk"
