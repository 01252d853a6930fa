#!/usr/bin/env bash
# restore --define at a point that stacks on a damaged file (k2 on k1):
# refused (exit 1), nothing written, no domain defined.  With --no-verify
# (which skips the checksums) it is taken as it is: a new domain on the
# restored images, with a new UUID and none of the original's images,
# that starts.
. "${srcdir:-.}/backup-functions.sh"
bf_setup
bf_damage

mkdir "$TMPD/rd"
expect_exit 1 vckpt restore "$dom" --repo "$R" --at k2 --to "$TMPD/rd" --define web-restored
grep -q 'size [0-9]*, the manifest says [0-9]*: backup inc-.* cannot be restored' "$err"
test -z "$(ls -A "$TMPD/rd")"
if virsh dominfo web-restored >/dev/null 2>&1; then fail "a refused restore defined the domain"; fi
expect_exit 0 vckpt restore "$dom" --repo "$R" --at k2 --to "$TMPD/rd" --define web-restored --no-verify
test "$(virsh domuuid web-restored)" != "$(virsh domuuid "$dom")"
virsh dumpxml web-restored | grep -q "$TMPD/rd/web-restored-vda.qcow2"
virsh dumpxml web-restored > "$TMPD/web-restored.xml"
if grep -q -F -e "$(lab_disk_path "$dom" vda)" "$TMPD/web-restored.xml"; then
    fail "the restored domain still uses the original's disk image"
fi
qemu-img compare -q "$TMPD/m2-vda.qcow2" "$TMPD/rd/web-restored-vda.qcow2"
virsh start web-restored
virsh destroy web-restored
