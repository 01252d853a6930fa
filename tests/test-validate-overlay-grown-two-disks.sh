#!/usr/bin/env bash
# Two disks under overlays, one of them (vda) grown while running: libvirt
# cannot size the checkpoints (vda's bitmaps are in images of different
# sizes), so QEMU's view of vdb's bitmaps is unknown too.  validate judges
# vdb by its images: no false "bitmap-inconsistent" on it (which repair
# would have answered by deleting the checkpoint), vda is disk-resized
# (copied whole).  libvirt agrees: the incremental from c2 succeeds, vdb
# incrementally, and both disks restore bit-exact; repair plans nothing
# for c2.  A checkpoint whose bitmap is really gone from vdb's top image is
# still reported (checkpoint-bitmap-missing).
. "${srcdir:-.}/functions.sh"
set -e -x
requires_root
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}
export VCKPT_STATE_DIR=$TMPD/state
dom=two
R=$TMPD/repo
lab_start
lab_domain_define "$dom" --disk 32M --disk 32M
lab_domain_start "$dom"
for d in vda vdb; do qemu-img create -q -f qcow2 "$TMPD/model-$d.qcow2" 32M; done
model_put vda 0x11 0 1M; model_put vdb 0x12 0 1M
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name c1 --keep-checkpoints
model_put vda 0x21 1M 1M; model_put vdb 0x22 1M 1M
expect_exit 0 vckpt backup "$dom" --repo "$R" --incremental c1 --name c2 --keep-checkpoints
virsh -q checkpoint-create-as "$dom" gone >/dev/null
lab_domain_stop "$dom"
vdb_base=$(lab_disk_path "$dom" vdb)
qemu-img bitmap --remove "$vdb_base" gone
expect_exit 0 vckpt overlay create "$dom" --name s1
lab_domain_start "$dom"
virsh -q blockresize "$dom" vda 64M
qemu-img resize -q "$TMPD/model-vda.qcow2" 64M
model_put vda 0x31 40M 1M; model_put vdb 0x32 2M 1M

expect_exit 0 vckpt --json validate "$dom" --checkpoint c2
jq -e '.errors == 0' "$out" >/dev/null || fail "validate --checkpoint c2 has errors"
assert_finding "$out" disk-resized disk=vda
assert_no_finding "$out" bitmap-inconsistent
assert_no_finding "$out" bitmap-missing
assert_finding "$out" checkpoint-bitmap-missing disk=vdb checkpoint=gone
assert_no_finding "$out" checkpoint-bitmap-missing checkpoint=c2
expect_exit 0 vckpt repair "$dom" --dry-run
if grep -q "delete-checkpoint checkpoint 'c2'" "$out"; then fail "repair would delete c2"; fi

expect_exit 0 vckpt --json backup "$dom" --repo "$R" --incremental c2 --name c3 --keep-checkpoints
jq -e '.level == "incremental"' "$out" >/dev/null
mkdir "$TMPD/r"
expect_exit 0 vckpt restore "$dom" --repo "$R" --at c3 --to "$TMPD/r"
for d in vda vdb; do
    qemu-img compare -q "$TMPD/model-$d.qcow2" "$TMPD/r/$d.qcow2" || fail "$d differs from what was written"
done
