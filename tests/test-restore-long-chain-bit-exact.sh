#!/usr/bin/env bash
# A chain of a full backup and 10 incrementals, each overwriting part of the
# one before: the verified restore of the newest point, of a point in the
# middle, and --no-verify of the newest are bit for bit what the guest had
# written at that point; each image is 0600 and nothing temporary is left.
# Both ways restore has qemu-img write: with O_DIRECT (qemu-img -t none -W,
# where the directory takes it: here), and through the page cache with a
# writeback thread alongside (VCKPT_TEST_NO_DIRECT_IO=1, as on a file
# system that refuses O_DIRECT).
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
    vckpt -q backup "$dom" --incremental c$((k - 1)) --name "c$k" --repo "$R"
    if [ "$k" -eq 5 ]; then cp "$TMPD/model.qcow2" "$TMPD/m5-vda.qcow2"; fi
done
test "$(vckpt --json list-backups "$dom" --repo "$R" | jq '.backups | length')" -eq 11

for mode in direct cached; do
    if [ "$mode" = cached ]; then export VCKPT_TEST_NO_DIRECT_IO=1; fi
    for at in c10 c5; do
        mkdir "$TMPD/$mode-$at"
        expect_exit 0 rf_vckpt --json restore "$dom" --repo "$R" --at "$at" --to "$TMPD/$mode-$at"
        jq -e '.verified == true' "$out"
        rf_no_leftovers "$TMPD/$mode-$at"
        test "$(stat -c %a "$TMPD/$mode-$at/vda.qcow2")" = 600
    done
    qemu-img compare -q "$TMPD/model.qcow2" "$TMPD/$mode-c10/vda.qcow2" ||
        fail "$mode: restore of the newest of 11 links differs from what was written"
    qemu-img compare -q "$TMPD/m5-vda.qcow2" "$TMPD/$mode-c5/vda.qcow2" ||
        fail "$mode: restore of link 6 of 11 differs from what was written then"
    mkdir "$TMPD/$mode-nv"
    expect_exit 0 rf_vckpt restore "$dom" --repo "$R" --to "$TMPD/$mode-nv" --no-verify
    qemu-img compare -q "$TMPD/model.qcow2" "$TMPD/$mode-nv/vda.qcow2" ||
        fail "$mode: restore --no-verify of the newest of 11 links differs from what was written"
    rf_no_leftovers "$TMPD/$mode-nv"
done
