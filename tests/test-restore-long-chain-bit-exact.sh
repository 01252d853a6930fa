#!/usr/bin/env bash
# A chain of a full backup and 10 incrementals, each overwriting part of the
# one before: the verified restore of the newest point, of a point in the
# middle, and --no-verify of the newest are bit for bit what the guest had
# written at that point; each image is 0600 and nothing temporary is left.
# (Restore converts while a thread starts the writeback of the image:
# whatever it does, the bytes under the final name must be these.)
. "${srcdir:-.}/restore-functions.sh"
lab_start
lab_domain_define "$dom" --disk 64M
lab_domain_start "$dom"
qemu-img create -q -f qcow2 "$TMPD/model.qcow2" 64M
write ()    # PATTERN OFFSET LENGTH, into the guest and the model
{
    lab_write "$dom" vda "$1" "$2" "$3"
    qemu-io -f qcow2 -c "write -P $1 $2 $3" "$TMPD/model.qcow2" >/dev/null
}
write 0x10 0 32M
vckpt -q backup "$dom" --full --name c0 --repo "$R"
for k in $(seq 10); do
    # A block of its own, and one that overwrites the middle of the previous.
    write $((0x20 + k)) $((32 + 3 * k))M 1M
    write $((0x40 + k)) $((k * 2))M 3M
    vckpt -q backup "$dom" --incremental c$((k - 1)) --name c$k --repo "$R"
    if [ "$k" -eq 5 ]; then cp "$TMPD/model.qcow2" "$TMPD/m5-vda.qcow2"; fi
done
test "$(vckpt --json list-backups "$dom" --repo "$R" | jq '.backups | length')" -eq 11

for at in c10 c5; do
    mkdir "$TMPD/to-$at"
    expect_exit 0 rf_vckpt --json restore "$dom" --repo "$R" --at "$at" --to "$TMPD/to-$at"
    jq -e '.verified == true' "$out"
    rf_no_leftovers "$TMPD/to-$at"
    test "$(stat -c %a "$TMPD/to-$at/vda.qcow2")" = 600
done
qemu-img compare -q "$TMPD/model.qcow2" "$TMPD/to-c10/vda.qcow2" ||
    fail "restore of the newest of 11 links differs from what was written"
qemu-img compare -q "$TMPD/m5-vda.qcow2" "$TMPD/to-c5/vda.qcow2" ||
    fail "restore of link 6 of 11 differs from what was written then"
mkdir "$TMPD/nv"
expect_exit 0 rf_vckpt restore "$dom" --repo "$R" --to "$TMPD/nv" --no-verify
qemu-img compare -q "$TMPD/model.qcow2" "$TMPD/nv/vda.qcow2" ||
    fail "restore --no-verify of the newest of 11 links differs from what was written"
rf_no_leftovers "$TMPD/nv"
