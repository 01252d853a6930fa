#!/usr/bin/env bash
# A domain with a qcow2 disk and a raw disk: validate --full says OK and the
# full backup succeeds (the checkpoint leaves the raw disk out); every
# later --auto backup is incremental for the qcow2 disk and copies the raw
# disk whole, in one job; a restore at each point is bit-exact for both.
. "${srcdir:-.}/functions.sh"
set -e -x
lab_start
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom=rawdom
R=$TMPD/repo
lab_domain_define "$dom" --disk 1G --raw-disk 64M
lab_domain_start "$dom"
qemu-img create -q -f qcow2 "$TMPD/model-vda.qcow2" 1G
qemu-img create -q -f qcow2 "$TMPD/model-vdb.qcow2" 64M
snap() { cp "$TMPD/model-vda.qcow2" "$TMPD/m$1-vda.qcow2"; cp "$TMPD/model-vdb.qcow2" "$TMPD/m$1-vdb.qcow2"; }
backups() { vckpt --json list-backups "$dom" --repo "$R"; }

model_put vda 0x10 0 4M
model_put vdb 0x20 0 1M
expect_exit 0 vckpt validate "$dom" --full
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --full --name k0
jq -e '.level == "full"' "$out"
# The checkpoint tracks vda only.
virsh checkpoint-dumpxml "$dom" k0 > "$TMPD/k0.xml"
test "$(xmllint --xpath 'string(//disks/disk[@name="vdb"]/@checkpoint)' "$TMPD/k0.xml")" = no
test "$(xmllint --xpath 'string(//disks/disk[@name="vda"]/@checkpoint)' "$TMPD/k0.xml")" = bitmap
snap 0

model_put vda 0x11 100M 2M
model_put vdb 0x21 8M 1M
expect_exit 0 vckpt --json validate "$dom" --repo "$R"
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name k1
jq -e '.level == "incremental" and .since == "k0" and .auto_reason == null' "$out"
jq -e '.preflight.whole == ["vdb"]' "$out"
jq -e '.backup_xml == null' "$out"
# vda stacks on the full backup, vdb stands alone; the job copied vdb
# whole (64M) and only the changed part of vda (2M + its 64K clusters).
backups | jq -e '.backups[1].disks | map({(.target): (.backing != null)}) | add == {"vda": true, "vdb": false}'
snap 1

model_put vda 0x12 0 1M
model_put vdb 0x22 0 512K
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name k2
jq -e '.level == "incremental" and .since == "k1" and .preflight.whole == ["vdb"]' "$out"
snap 2

# Differential: also one job, vdb whole.
model_put vdb 0x23 32M 1M
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --differential --name k3
jq -e '.level == "differential" and .since == "k0" and .preflight.whole == ["vdb"]' "$out"
snap 3

for i in 0 1 2 3; do
    mkdir "$TMPD/r$i"
    expect_exit 0 vckpt restore "$dom" --repo "$R" --at k$i --to "$TMPD/r$i"
    for d in vda vdb; do
        qemu-img compare -q "$TMPD/m$i-$d.qcow2" "$TMPD/r$i/$d.qcow2" ||
            fail "restore at k$i: $d differs from what was written"
    done
done
# The models differ from one point to the next (the comparison can fail).
if qemu-img compare -q "$TMPD/m0-vdb.qcow2" "$TMPD/m1-vdb.qcow2"; then fail "models equal"; fi
if qemu-img compare -q "$TMPD/m1-vda.qcow2" "$TMPD/m2-vda.qcow2"; then fail "models equal"; fi
expect_exit 0 vckpt verify "$dom" --repo "$R"
# Checkpoints follow the repository: the chain's full and the newest.
test "$(virsh -q checkpoint-list "$dom" --name | sort | tr '\n' ' ')" = "k0 k3 "
