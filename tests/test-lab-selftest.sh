#!/usr/bin/env bash
# vckpt test suite: prove the private libvirtd + QEMU lab works.
#
# A domain with two disks (and a name with a space) runs, takes guest
# writes and a checkpoint; a graceful stop persists the bitmap ("auto"),
# a SIGKILL leaves it "in-use".  Also checks the data helpers against a
# mismatch, and disk hot-plug and resize.

set -e -x
. "${srcdir:-.}/functions.sh"

lab_start

dom="lab self test"
lab_domain_define "$dom" --disk 64M --disk 32M
vda=$(lab_disk_path "$dom" vda)
vdb=$(lab_disk_path "$dom" vdb)
assert_eq "$LAB/images/$dom-vda.qcow2" "$vda" "vda path"
assert_eq "$LAB/images/$dom-vdb.qcow2" "$vdb" "vdb path"

lab_domain_start "$dom"
lab_write "$dom" vda 0xab 1M 2M
virsh checkpoint-create-as "$dom" c1
lab_write "$dom" vda 0xcd 4M 1M
lab_write "$dom" 1 0xef 0 64K
lab_domain_stop "$dom"

# A graceful stop persists the bitmap in every disk, flagged auto.
assert_eq "c1" "$(lab_bitmaps "$vda")" "bitmaps of vda"
assert_eq "auto" "$(lab_bitmap_flags "$vda" c1)" "flags of c1 in vda"
assert_eq "auto" "$(lab_bitmap_flags "$vdb" c1)" "flags of c1 in vdb"
if lab_bitmap_flags "$vda" nosuch; then
    fail "lab_bitmap_flags found a bitmap that does not exist"
fi

# The guest writes reached the images, and mismatches are caught.
lab_expect_pattern "$vda" 1M 2M 0xab
lab_expect_pattern "$vda" 4M 1M 0xcd
lab_expect_pattern "$vda" 3M 1M zero
lab_expect_pattern "$vdb" 0 64K 0xef
if lab_expect_pattern "$vda" 1M 2M 0xcd; then
    fail "lab_expect_pattern accepted a wrong pattern"
fi
if lab_expect_pattern "$vda" 512K 1M 0xab; then
    fail "lab_expect_pattern accepted a partly matching range"
fi
cp "$vda" "$TMPD/copy.qcow2"
lab_compare_images "$vda" "$TMPD/copy.qcow2"

# A SIGKILL leaves the bitmap flagged in-use in the file.
lab_domain_start "$dom"
lab_write "$dom" vda zero 1M 64K
lab_domain_kill "$dom"
assert_eq "auto in-use" "$(lab_bitmap_flags "$vda" c1)" "flags of c1 after kill"
assert_eq "auto in-use" "$(lab_bitmap_flags "$vdb" c1)" "flags of c1 in vdb after kill"
lab_expect_pattern "$vda" 1M 64K zero
if lab_compare_images "$vda" "$TMPD/copy.qcow2"; then
    fail "lab_compare_images missed a difference"
fi

# Hot-plug a disk, write to it, grow it; grow a disk offline.
lab_domain_start "$dom"
lab_hotplug_disk "$dom" vdc 16M
vdc=$(lab_disk_path "$dom" vdc)
lab_write "$dom" vdc 0x5a 0 1M
lab_resize_disk "$dom" vdc 48M
lab_write "$dom" vdc 0x6b 40M 1M
lab_domain_stop "$dom"
assert_eq $((48 * 1024 * 1024)) "$(lab_image_info "$vdc" | jq '.["virtual-size"]')" \
    "size of vdc"
lab_expect_pattern "$vdc" 0 1M 0x5a
lab_expect_pattern "$vdc" 40M 1M 0x6b

# A raw disk works too, a second domain coexists, and disks of a domain
# that is shut off are resized offline (a healthy bitmap does not stop
# qemu-img; an in-use one, like c1 in "$dom" now, would).  Naming one
# disk in --diskspec makes the others default to checkpoint=no.
raw="lab raw"
lab_domain_define "$raw" --raw-disk 8M --disk 16M --memory 32
lab_domain_start "$raw"
lab_write "$raw" vda 0x11 1M 1M
virsh checkpoint-create-as "$raw" --name r1 \
    --diskspec vda,checkpoint=no --diskspec vdb,checkpoint=bitmap
lab_write "$raw" vdb 0x22 1M 1M
lab_domain_stop "$raw"
lab_expect_pattern "$(lab_disk_path "$raw" vda)" 1M 1M 0x11
lab_resize_disk "$raw" vda 12M
lab_resize_disk "$raw" vdb 20M
for t in vda:12 vdb:20; do
    img=$(lab_disk_path "$raw" "${t%:*}")
    assert_eq $((${t#*:} * 1024 * 1024)) \
        "$(lab_image_info "$img" | jq '.["virtual-size"]')" "size of $t"
done
assert_eq auto "$(lab_bitmap_flags "$(lab_disk_path "$raw" vdb)" r1)" "r1 flags"
lab_expect_pattern "$(lab_disk_path "$raw" vdb)" 1M 1M 0x22
lab_domain_undefine "$raw"
