#!/usr/bin/env bash
# A crafted repository never reaches libguestfs: an incremental file whose
# backing name points at /etc/shadow (with the manifest's checksum and
# size forged to match), one whose backing names itself (a loop), and one
# with a flipped byte are each refused (exit 1) before any appliance
# starts (the hypervisor libguestfs would run is a script that leaves a
# mark), by 'files ls' and by 'files diff' with the crafted backup as
# either of the two; the sound chain does start it (the test can fail), and an
# appliance that cannot start is exit 4 naming libguestfs-test-tool.  No
# appliance really starts.
. "${srcdir:-.}/files-functions.sh"
set -e -x
requires xxh128sum --version
files_setup

expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name k0
_lab_img qemu-io -f qcow2 -c 'write -P 0x5a 1M 1M' "$(lab_disk_path "$dom" vda)" >/dev/null
expect_exit 0 vckpt backup "$dom" --repo "$R" --incremental k0 --name k1
M=$R/$dom/manifest.xml
inc=$(find "$R/$dom" -name 'inc-*.vda.qcow2')
full=$(find "$R/$dom" -name 'full-*.vda.qcow2')
cp "$inc" "$TMPD/inc.orig"
cp "$M" "$TMPD/manifest.orig"

# Any start of the appliance leaves a mark.
cat > "$TMPD/hv" <<EOF
#!/bin/sh
touch "$TMPD/started"
exit 1
EOF
chmod +x "$TMPD/hv"
export LIBGUESTFS_HV=$TMPD/hv LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg

# forge FILE: the manifest records FILE's present checksum and size.
forge ()
{
    python3 - "$M" "${1#"$R/$dom/"}" "$(xxh128sum < "$1" | cut -d' ' -f1)" "$(stat -c %s "$1")" <<'PY'
import sys, xml.etree.ElementTree as ET
path, rel, sum_, size = sys.argv[1:]
tree = ET.parse(path)
for d in tree.getroot().iter("disk"):
    if d.findtext("file") == rel:
        d.find("checksum").text = sum_
        d.find("size").text = size
tree.write(path, xml_declaration=True, encoding="UTF-8")
PY
}

refused ()
{
    rm -f "$TMPD/started"
    files_run 1 files ls "$dom" --repo "$R" /
    assert_grep "$1" "$err"
    # files diff: the crafted backup as either of the two.
    files_run 1 files diff "$dom" --repo "$R" --from k0 --to k1
    assert_grep "$1" "$err"
    files_run 1 files diff "$dom" --repo "$R" --from k1 --to k0
    assert_grep "$1" "$err"
    [ ! -e "$TMPD/started" ] || fail "libguestfs started an appliance on a crafted chain"
    ls "$TMPD" | grep -q '^vckpt-files-' && fail "a private directory was left"
    return 0
}

# The backing name is /etc/shadow, the manifest forged to match.
qemu-img rebase -u -f qcow2 -b /etc/shadow -F raw "$inc"
forge "$inc"
expect_exit 0 vckpt list-backups "$dom" --repo "$R"
refused "backing file is '/etc/shadow', the manifest says 'full-"

# The backing name is the file's own: a loop.
cp "$TMPD/inc.orig" "$inc"
qemu-img rebase -u -f qcow2 -b "$(basename "$inc")" -F qcow2 "$inc"
forge "$inc"
refused "backing file is '$(basename "$inc")', the manifest says 'full-"

# One flipped byte in the full backup's file.
cp "$TMPD/inc.orig" "$inc"
cp "$TMPD/manifest.orig" "$M"
cp "$full" "$TMPD/full.orig"
printf '\x01' | dd of="$full" bs=1 seek=$(( $(stat -c %s "$full") - 100 )) conv=notrunc status=none
refused "xxh3-128 mismatch"

# The sound chain reaches libguestfs, whose appliance cannot start here.
cp "$TMPD/full.orig" "$full"
rm -f "$TMPD/started"
files_run 4 files ls "$dom" --repo "$R" /
[ -e "$TMPD/started" ] || fail "the sound chain did not reach the appliance"
assert_grep 'the libguestfs appliance cannot start on this machine: .*run libguestfs-test-tool' "$err"
rm -f "$TMPD/started"
files_run 4 files diff "$dom" --repo "$R" --from k0 --to k1
[ -e "$TMPD/started" ] || fail "files diff of the sound chain did not reach the appliance"
ls "$TMPD" | grep -q '^vckpt-files-' && fail "a private directory was left"
expect_exit 0 vckpt verify "$dom" --repo "$R"
