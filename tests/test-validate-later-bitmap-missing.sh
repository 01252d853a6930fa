#!/usr/bin/env bash
# A later checkpoint's bitmap is missing from the image (removed while the
# domain was shut off): libvirt 9.0 still backs up incrementally from an
# earlier checkpoint, whose own bitmap is intact, and the data is right.
# So validate must not refuse it (a false refusal costs a full chain every
# night): only a warning about the later checkpoint.
. "${srcdir:-.}/functions.sh"
set -e -x
requires_root
lab_start
dom=lbm
R=$TMPD/repo
lab_domain_define "$dom" --disk 16M
lab_domain_start "$dom"
qemu-img create -q -f qcow2 "$TMPD/model.qcow2" 16M
model () { qemu-io -f qcow2 -c "write -P $1 $2 $3" "$TMPD/model.qcow2" >/dev/null; }

lab_write "$dom" vda 0x11 0 1M; model 0x11 0 1M
vckpt -q backup "$dom" --full --name c1 --repo "$R"
lab_write "$dom" vda 0x22 1M 1M; model 0x22 1M 1M
vckpt -q backup "$dom" --incremental c1 --name c2 --repo "$R"
lab_domain_stop "$dom"
img=$(lab_disk_path "$dom" vda)
qemu-img bitmap --remove "$img" c2
test "$(lab_bitmaps "$img")" = c1
lab_domain_start "$dom"
lab_write "$dom" vda 0x33 2M 1M; model 0x33 2M 1M

expect_exit 0 vckpt --json validate "$dom" --checkpoint c1
assert_no_finding "$out" bitmap-missing checkpoint=c1
assert_no_finding "$out" bitmap-missing checkpoint=c2
assert_finding "$out" checkpoint-bitmap-missing severity=warning checkpoint=c2
if jq -e '.findings[] | select(.severity == "error")' "$out" >/dev/null; then
    fail "validate refuses a backup from c1: $(cat "$out")"
fi

# What libvirt then does: the differential from c1 (the chain's full)
# succeeds and restores bit-exact.
expect_exit 0 vckpt backup "$dom" --differential --name c3 --repo "$R"
lab_domain_stop "$dom"
mkdir "$TMPD/to"
expect_exit 0 vckpt restore "$dom" --repo "$R" --to "$TMPD/to" --at c3
lab_compare_images "$TMPD/to/vda.qcow2" "$TMPD/model.qcow2" ||
    fail "the backup from c1 restored different data"
