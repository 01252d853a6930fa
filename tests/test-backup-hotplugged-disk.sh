#!/usr/bin/env bash
# A disk hot-plugged after the last backup: --auto stays incremental for
# the other disk and copies the new one whole, in one job, instead of a
# new full chain; the next --auto is incremental for both; restores at
# every point are bit-exact.
. "${srcdir:-.}/functions.sh"
set -e -x
lab_start
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom=hotplug
R=$TMPD/repo
lab_domain_define "$dom" --disk 256M
lab_domain_start "$dom"
qemu-img create -q -f qcow2 "$TMPD/model-vda.qcow2" 256M
qemu-img create -q -f qcow2 "$TMPD/model-vdb.qcow2" 32M
snap() { cp "$TMPD/model-vda.qcow2" "$TMPD/m$1-vda.qcow2"; cp "$TMPD/model-vdb.qcow2" "$TMPD/m$1-vdb.qcow2"; }
backups() { vckpt --json list-backups "$dom" --repo "$R"; }

model_put vda 0x10 0 8M
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --full --name k0
snap 0

lab_hotplug_disk "$dom" vdb 32M
model_put vda 0x11 64M 1M
model_put vdb 0x21 0 2M
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name k1
jq -e '.level == "incremental" and .since == "k0" and .auto_reason == null' "$out"
jq -e '.preflight.whole == ["vdb"]' "$out"
backups | jq -e '.backups[1].disks | map({(.target): (.backing != null)}) | add == {"vda": true, "vdb": false}'
snap 1

model_put vda 0x12 0 1M
model_put vdb 0x22 4M 1M
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name k2
jq -e '.level == "incremental" and .since == "k1" and .preflight.whole == []' "$out"
backups | jq -e '.backups[2].disks | map(.backing != null) | all'
snap 2

mkdir "$TMPD/r0"
expect_exit 0 vckpt restore "$dom" --repo "$R" --at k0 --to "$TMPD/r0"
test "$(ls "$TMPD/r0")" = vda.qcow2
qemu-img compare -q "$TMPD/m0-vda.qcow2" "$TMPD/r0/vda.qcow2"
for i in 1 2; do
    mkdir "$TMPD/r$i"
    expect_exit 0 vckpt restore "$dom" --repo "$R" --at k$i --to "$TMPD/r$i"
    for d in vda vdb; do
        qemu-img compare -q "$TMPD/m$i-$d.qcow2" "$TMPD/r$i/$d.qcow2" ||
            fail "restore at k$i: $d differs from what was written"
    done
done
if qemu-img compare -q "$TMPD/m1-vdb.qcow2" "$TMPD/m2-vdb.qcow2"; then fail "models equal"; fi
expect_exit 0 vckpt verify "$dom" --repo "$R"
