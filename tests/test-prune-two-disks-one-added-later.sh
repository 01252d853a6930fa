#!/usr/bin/env bash
# Two disks, the second hot-plugged after the full backup (so the next
# backup copies it whole: no backing file) and written after; with the
# domain then shut off, prune --keep-last 1 makes the newest point its
# chain's full: both disks standalone and bit for bit what was written,
# verify passes.  libvirt deletes checkpoints of running domains only:
# the two no backup needs any more are recorded as retired in the
# manifest, and the next prune, with the domain running, deletes them.
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

lab_domain_stop "$dom"
expect_exit 0 pf_vckpt --json prune "$dom" --repo "$R" --keep-last 1
jq -e '.checkpoints == []' "$out"
grep -q 'is shut off' "$err"
test "$(grep -c '<retired ' "$R/$dom/manifest.xml")" -eq 2
test "$(pf_ids)" = "$(cat "$TMPD/id2")"
vckpt --json list-backups "$dom" --repo "$R" > "$TMPD/list.json"
jq -e '.backups[0].level == "full" and ([.backups[0].disks[].backing] == [null, null])' \
   "$TMPD/list.json"
pf_restore_ok 2
qemu-img compare -q "$TMPD/model-vdb.qcow2" "$TMPD/to2/vdb.qcow2" ||
    fail "disk vdb does not restore what was written"
expect_exit 0 pf_vckpt --json verify "$dom" --repo "$R"
jq -e '.findings | length == 0' "$out" || fail "verify found problems after the prune"

# Running again: the retired checkpoints go, and only them.
lab_domain_start "$dom"
test "$(virsh -q checkpoint-list "$dom" --name | grep -c .)" -eq 3
expect_exit 0 pf_vckpt --json prune "$dom" --repo "$R" --keep-last 1
jq -e '.checkpoints | length == 2' "$out"
test "$(grep -c '<retired ' "$R/$dom/manifest.xml")" -eq 0
test "$(virsh -q checkpoint-list "$dom" --name)" = "$(jq -r '.backups[0].checkpoint' "$TMPD/list.json")"
expect_exit 0 pf_vckpt --json verify "$dom" --repo "$R"
