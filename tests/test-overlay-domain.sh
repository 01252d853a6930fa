#!/usr/bin/env bash
# overlay create on a shut-off domain with checkpoints from vckpt backups:
# the definition names the overlay (DIR/STEM.SNAP.qcow2 on the old image,
# carrying its bitmaps), validate is clean, and libvirt agrees: after a
# start and a write, incremental backups from the newest checkpoint and from
# an older one succeed, copy only what changed, and restore bit-exact.
. "${srcdir:-.}/chain-functions.sh"

cf_setup
base=$(lab_disk_path "$dom" vda)
virsh dumpxml --inactive --security-info "$dom" > "$TMPD/before.xml"
expect_exit 0 vckpt --json overlay create "$dom" --name s1
jq -e '.disks[0].disk == "vda" and (.disks[0].bitmaps | sort) == ["c1", "c2"] and .disks[0].skipped == []' "$out"
new=$(lab_disk_path "$dom" vda)
test "$new" = "${base%.qcow2}.s1.qcow2"
test "$(jq -r .disks[0].overlay "$out")" = "$new"
test "$(lab_image_info "$new" | jq -r '."backing-filename"')" = "$(basename "$base")"
test "$(lab_image_info "$new" | jq -r '."backing-filename-format"')" = qcow2
test "$(lab_bitmaps "$new" | sort | tr '\n' ' ')" = "c1 c2 "
test "$(cf_bitmap_granularity "$new" c1)" = "$(cf_bitmap_granularity "$base" c1)"
# The rest of the definition is as it was (only the source differs); the
# checkpoints stay.
virsh dumpxml --inactive --security-info "$dom" > "$TMPD/after.xml"
norm () { sed "s|$2|IMAGE|" "$1" | xmllint --noblanks - | xmllint --format -; }
diff <(norm "$TMPD/after.xml" "$new") <(norm "$TMPD/before.xml" "$base")
if diff -q "$TMPD/before.xml" "$TMPD/after.xml" >/dev/null; then fail "the definition did not change"; fi
test "$(virsh -q checkpoint-list "$dom" --name | sort | tr '\n' ' ')" = "c1 c2 "
test "$(stat -c %a "$VCKPT_STATE_DIR")" = 700
cf_no_journal

cf_validate_clean
cf_validate_clean --checkpoint c1

lab_domain_start "$dom"
cf_put 0x33 2M 1M
cf_backup c3 --incremental c2
jq -e '.bytes >= 1048576 and .bytes < 4194304' "$out"
cf_put 0x44 512K 1M
cf_backup c4 --incremental c1
jq -e '.bytes >= 2621440 and .bytes < 4194304' "$out"   # 512K-3M written since c1
cf_restore_check c2
cf_restore_check c3
cf_restore_check c4
# The model really changed (the comparisons can fail).
expect_exit 1 qemu-img compare -q "$TMPD/m-c2.qcow2" "$TMPD/m-c3.qcow2"
expect_exit 1 qemu-img compare -q "$TMPD/m-c3.qcow2" "$TMPD/m-c4.qcow2"
lab_domain_stop "$dom"
# The guest's writes went into the overlay, not the old image.
lab_expect_pattern "$base" 2M 1M zero
lab_expect_pattern "$new" 2M 1M 0x33
