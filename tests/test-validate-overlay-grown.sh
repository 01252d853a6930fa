#!/usr/bin/env bash
# An overlay grown after the checkpoints (virsh blockresize on a running
# domain whose backing image carries the bitmaps): QEMU cannot merge
# bitmaps of different sizes, so libvirt can neither size those
# checkpoints nor back up incrementally from them.  Before, validate and
# backup failed late with libvirt's "Bitmaps are of different sizes".  Now
# validate says OK with disk-resized (the disk is copied whole), both for
# a checkpoint of vckpt's (c2, whose size vckpt recorded) and for one made
# with virsh (ext: the images tell), and libvirt agrees: both incrementals
# succeed and restore bit-exact.
. "${srcdir:-.}/chain-functions.sh"

cf_setup
lab_domain_start "$dom"
virsh -q checkpoint-create-as "$dom" ext >/dev/null
cp "$TMPD/model.qcow2" "$TMPD/m-ext.qcow2"
lab_domain_stop "$dom"
expect_exit 0 vckpt overlay create "$dom" --name s1
lab_domain_start "$dom"
virsh -q blockresize "$dom" vda 64M
qemu-img resize -q "$TMPD/model.qcow2" 64M
cf_put 0x33 40M 1M

for c in c2 ext; do
    expect_exit 0 vckpt --json validate "$dom" --checkpoint $c
    jq -e '.errors == 0' "$out" >/dev/null || fail "validate --checkpoint $c has errors"
    assert_finding "$out" disk-resized severity=warning
    if grep -q "different sizes" "$err"; then fail "validate reported libvirt's failure"; fi
done

cf_backup g1 --incremental c2
jq -e '.level == "incremental"' "$out" >/dev/null
assert_finding "$out" disk-resized
if grep -q "cannot read checkpoint" "$err"; then fail "backup printed libvirt's failure"; fi
cf_restore_check g1
# ext has no backup in the repository (vckpt would refuse an incremental
# from it for that): ask libvirt itself, as vckpt would, for a push backup
# since ext with vda copied whole (what validate said), and without.
cp "$TMPD/model.qcow2" "$TMPD/m-now.qcow2"
push ()   # push MODE TARGET: a push backup since ext, vda backupmode MODE
{
    cat > "$TMPD/b.xml" <<XML
<domainbackup mode='push'><incremental>ext</incremental><disks>
<disk name='vda' backup='yes' type='file' backupmode='$1'><target file='$2'/><driver type='qcow2'/></disk>
</disks></domainbackup>
XML
    virsh -q backup-begin "$dom" "$TMPD/b.xml"
}
if push incremental "$TMPD/ext-inc.qcow2" 2>"$TMPD/e"; then
    fail "libvirt backed up incrementally across bitmaps of different sizes"
fi
grep -q "different sizes" "$TMPD/e"
push full "$TMPD/ext-full.qcow2"
wait_for 60 "the backup job to end" sh -c "! virsh -q domjobinfo '$dom' | grep -q 'Job type: *Unbounded'"
virsh -q domjobinfo "$dom" --completed | grep -q 'Job type: *Completed'
qemu-img compare -q "$TMPD/m-now.qcow2" "$TMPD/ext-full.qcow2" ||
    fail "libvirt's backup since ext differs from what was written"
