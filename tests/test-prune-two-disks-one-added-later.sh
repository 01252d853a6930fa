#!/usr/bin/env bash
# Two disks, the second hot-plugged after the full backup (so the next
# backup copies it whole: no backing file) and written after; with the
# domain then shut off, prune --keep-last 1 makes the newest point its
# chain's full: both disks standalone and bit for bit what was written,
# verify passes.  The full's checkpoint, which no backup needs any more, is
# deleted although the domain is shut off (its bitmap with qemu-img, then
# libvirt's metadata), and only it.
. "${srcdir:-.}/prune-functions.sh"
pf_setup 16M
qemu-img create -q -f qcow2 "$TMPD/model-vdb.qcow2" 8M
pf_put 0x81 0 2M
pf_backup 0 --full
lab_hotplug_disk "$dom" vdb 8M
lab_write "$dom" vdb 0x91 1M 1M
qemu-io -f qcow2 -c "write -P 0x91 1M 1M" "$TMPD/model-vdb.qcow2" >/dev/null
pf_put 0x82 1M 1M
pf_backup 1 --auto
jq -e '.disks | length == 2' <(vckpt --json list-backups "$dom" --repo "$R" | jq '.backups[1]')
lab_write "$dom" vdb 0x92 4M 1M
qemu-io -f qcow2 -c "write -P 0x92 4M 1M" "$TMPD/model-vdb.qcow2" >/dev/null
pf_put 0x83 3M 1M
pf_backup 2 --auto

ck0=$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[0].checkpoint')
ck2=$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[2].checkpoint')
test "$(virsh -q checkpoint-list "$dom" --name | sort | tr '\n' ' ')" = \
     "$(printf '%s\n' "$ck0" "$ck2" | sort | tr '\n' ' ')"
lab_domain_stop "$dom"
expect_exit 0 pf_vckpt --json prune "$dom" --repo "$R" --keep-last 1
jq -e --arg c "$ck0" '.checkpoints == [$c]' "$out"
test "$(grep -c '<retired ' "$R/$dom/manifest.xml")" -eq 0
test "$(virsh -q checkpoint-list "$dom" --name)" = "$ck2"
test "$(lab_bitmaps "$(lab_disk_path "$dom" vda)")" = "$ck2" ||
    fail "the deleted checkpoint's bitmap is still in the image"
test "$(pf_ids)" = "$(cat "$TMPD/id2")"
vckpt --json list-backups "$dom" --repo "$R" > "$TMPD/list.json"
jq -e '.backups[0].level == "full" and ([.backups[0].disks[].backing] == [null, null])' \
   "$TMPD/list.json"
pf_restore_ok 2
qemu-img compare -q "$TMPD/model-vdb.qcow2" "$TMPD/to2/vdb.qcow2" ||
    fail "disk vdb does not restore what was written"
expect_exit 0 pf_vckpt --json verify "$dom" --repo "$R"
jq -e '.findings | length == 0' "$out" || fail "verify found problems after the prune"

# Running again: nothing more to delete; the next backup is incremental.
lab_domain_start "$dom"
expect_exit 0 pf_vckpt --json prune "$dom" --repo "$R" --keep-last 1
jq -e '.checkpoints == []' "$out"
test "$(virsh -q checkpoint-list "$dom" --name)" = "$ck2"
expect_exit 0 pf_vckpt --json verify "$dom" --repo "$R"
pf_put 0x84 5M 1M
pf_backup 3 --auto
test "$(jq -r .level "$out")" = incremental
pf_restore_ok 3
