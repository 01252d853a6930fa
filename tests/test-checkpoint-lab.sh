#!/usr/bin/env bash
# Checkpoint create/list/info/dumpxml/delete/redefine against a real private
# libvirtd and a running QEMU domain whose name has a space in it.
. "${srcdir:-.}/functions.sh"
set -e -x
lab_start

dom='web 1'
lab_domain_define "$dom" --disk 64M --disk 32M
lab_domain_start "$dom"
ncheckpoints() { virsh -q checkpoint-list "$dom" --name | grep -c . || true; }

# c1 on all disks; 2 MiB written after it.
expect_exit 0 vckpt checkpoint create "$dom" c1 --description 'first <one>'
grep -q "Checkpoint c1 of domain $dom created" "$out"
test "$(ncheckpoints)" -eq 1
lab_write "$dom" 0 0xab 1M 2M

# c2 on vda only: vdb is explicitly left out.
expect_exit 0 vckpt -q checkpoint create "$dom" c2 --disk vda
test "$(cat "$out")" = c2
virsh checkpoint-dumpxml "$dom" c2 > "$TMPD/c2-virsh.xml"
test "$(xmllint --xpath 'string(/domaincheckpoint/disks/disk[@name="vdb"]/@checkpoint)' "$TMPD/c2-virsh.xml")" = no
test "$(xmllint --xpath 'string(/domaincheckpoint/disks/disk[@name="vda"]/@checkpoint)' "$TMPD/c2-virsh.xml")" = bitmap

expect_exit 0 vckpt --json checkpoint create "$dom" c3
c3=$(jq -r .checkpoint "$out")
test "$c3" = c3
virsh checkpoint-info "$dom" c3 | grep -q '^Parent: *c2'

# Listing: text (times filtered) against the golden file, and JSON.
expect_exit 0 vckpt checkpoint list "$dom"
sed -E -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} [+-][0-9]{4}/TIME                     /' \
    "$out" > "$TMPD/list"
diff -u "$srcdir/golden/checkpoint-list.txt" "$TMPD/list"
expect_exit 0 vckpt checkpoint list "$dom" --json
test "$(jq -r '[.[].name] | join(" ")' "$out")" = "c1 c2 $c3"
test "$(jq -r '.[1].parent' "$out")" = c1
test "$(jq -r '.[0].parent' "$out")" = null
test "$(jq -r '.[0].description' "$out")" = 'first <one>'
test "$(jq -r '[.[1].disks[] | "\(.name)=\(.checkpoint)"] | join(",")' "$out")" = "vda=bitmap,vdb=no"
test "$(jq -r '.[0].creation_time | type' "$out")" = number

expect_exit 0 vckpt checkpoint list "$dom" --tree
diff -u "$srcdir/golden/checkpoint-tree.txt" "$out"
expect_exit 0 vckpt --json checkpoint list "$dom" --tree
test "$(jq -r '.[0].name, .[0].children[0].name, .[0].children[0].children[0].name' "$out" | tr '\n' ' ')" = "c1 c2 $c3 "
expect_exit 0 vckpt --json checkpoint list "$dom" --roots
test "$(jq -r '[.[].name] | join(" ")' "$out")" = c1
expect_exit 0 vckpt --json checkpoint list "$dom" --leaves
test "$(jq -r '[.[].name] | join(" ")' "$out")" = "$c3"
expect_exit 0 vckpt --json checkpoint list "$dom" --parent
test "$(jq -r '[.[].name] | join(" ")' "$out")" = "c1 c2"

# info: parent, children, bitmaps, and the exact bytes written since c1.
expect_exit 0 vckpt checkpoint info "$dom" c1 --size
grep -q '^Children: *c2$' "$out"
grep -q '^Description: first <one>$' "$out"
grep -q '^  vda *bitmap c1, changed since: 2.0 MiB (2097152 bytes)$' "$out"
grep -q '^  vdb *bitmap c1, changed since: 0 B (0 bytes)$' "$out"
expect_exit 0 vckpt --json checkpoint info "$dom" c2 --size
test "$(jq -r '.parent' "$out")" = c1
test "$(jq -r '.children | join(",")' "$out")" = "$c3"
test "$(jq -r '.disks[] | select(.name=="vda") | .size' "$out")" = 0
test "$(jq -r '.disks[] | select(.name=="vdb") | .checkpoint' "$out")" = no

# dumpxml gives libvirt's XML; it validates against the schema.
expect_exit 0 vckpt checkpoint dumpxml "$dom" c1
cp "$out" "$TMPD/c1.xml"
xmllint --noout --relaxng "${LIBVIRT_SCHEMAS:-/usr/share/libvirt/schemas}/domaincheckpoint.rng" "$TMPD/c1.xml"
expect_exit 0 vckpt checkpoint dumpxml "$dom" c2
cp "$out" "$TMPD/c2.xml"

# Without a name libvirt picks one (the time); vckpt prints it.
expect_exit 0 vckpt -q checkpoint create "$dom"
auto=$(cat "$out")
test -n "$auto"
virsh checkpoint-info "$dom" "$auto" | grep -q '^Parent: *c3'
expect_exit 0 vckpt checkpoint delete "$dom" "$auto"
test "$(ncheckpoints)" -eq 3

# Bad input against the real daemon: clear error, documented code, no change.
before=$(virsh -q checkpoint-list "$dom" --name | sort)
unchanged() { test "$(virsh -q checkpoint-list "$dom" --name | sort)" = "$before" || fail "checkpoints changed"; }
for bad in 'a/b' '..' 'a<b' 'a&b' "a'b" 'a b' 'café' ''; do
    expect_exit 2 vckpt checkpoint create "$dom" "$bad"
    unchanged
done
expect_exit 1 vckpt checkpoint create "$dom" c1
grep -q "checkpoint 'c1' already exists" "$err"
unchanged
expect_exit 3 vckpt checkpoint create "$dom" c9 --disk vda,vdz
grep -q "disk 'vdz' not found in domain 'web 1' (disks: vda, vdb)" "$err"
unchanged
expect_exit 3 vckpt checkpoint create 'no such domain' c9
grep -q "domain 'no such domain' not found" "$err"
expect_exit 3 vckpt checkpoint info "$dom" nochk
expect_exit 3 vckpt checkpoint delete "$dom" nochk
unchanged
test "$(wc -l < "$err")" -eq 1

# --size on a shut-off domain is refused; without --size info works.
lab_domain_stop "$dom"
expect_exit 1 vckpt checkpoint info "$dom" c1 --size
grep -q -- "--size needs a running domain" "$err"
expect_exit 0 vckpt checkpoint info "$dom" c1
# The bitmaps are persisted in the images (graceful stop).
qemu-img info --output=json "$(lab_disk_path "$dom" vda)" |
    jq -e '[."format-specific".data.bitmaps[].name] | sort == ["c1","c2","'"$c3"'"]'
lab_domain_start "$dom"

# Redefine: drop the metadata of c1 and its children, then restore it from
# the dumped files (given child first: vckpt orders them).
expect_exit 0 vckpt checkpoint delete "$dom" c1 --children --metadata-only
test "$(ncheckpoints)" -eq 0
expect_exit 0 vckpt checkpoint redefine "$dom" "$TMPD/c2.xml" "$TMPD/c1.xml"
test "$(virsh -q checkpoint-list "$dom" --name | sort | tr '\n' ' ')" = "c1 c2 "
test "$(virsh checkpoint-parent "$dom" c2)" = c1

# All or none: a second file that libvirt refuses undoes the first.
expect_exit 0 vckpt checkpoint delete "$dom" c1 --children --metadata-only
sed "s/checkpoint='bitmap'/checkpoint='bogus'/" "$TMPD/c2.xml" > "$TMPD/c2-bad.xml"
if cmp -s "$TMPD/c2.xml" "$TMPD/c2-bad.xml"; then
    fail "sed left c2.xml unchanged: the refused file would not be refused"
fi
rc=0; vckpt checkpoint redefine "$dom" "$TMPD/c1.xml" "$TMPD/c2-bad.xml" 2> "$TMPD/e" || rc=$?
cat "$TMPD/e"
test "$rc" -ne 0
test "$(ncheckpoints)" -eq 0 || fail "redefine left checkpoints behind after a failure"
# Files checked before anything changes: missing parent, malformed XML, bad name.
expect_exit 3 vckpt checkpoint redefine "$dom" "$TMPD/c2.xml"
grep -q "parent checkpoint 'c1' of 'c2' is neither defined nor in the given files" "$err"
printf '<domaincheckpoint><name>x' > "$TMPD/broken.xml"
expect_exit 1 vckpt checkpoint redefine "$dom" "$TMPD/c1.xml" "$TMPD/broken.xml"
grep -q 'malformed XML' "$err"
sed 's|<name>c1</name>|<name>../c1</name>|' "$TMPD/c1.xml" > "$TMPD/evil.xml"
expect_exit 2 vckpt checkpoint redefine "$dom" "$TMPD/evil.xml"
expect_exit 2 vckpt checkpoint redefine "$dom" "$TMPD/c1.xml" "$TMPD/c1.xml"
test "$(ncheckpoints)" -eq 0

# Delete with --children removes the bitmaps from the images too.
expect_exit 0 vckpt checkpoint redefine "$dom" "$TMPD/c1.xml" "$TMPD/c2.xml"
expect_exit 0 vckpt checkpoint delete "$dom" c1 --children
test "$(ncheckpoints)" -eq 0
lab_domain_stop "$dom"
qemu-img info --output=json "$(lab_disk_path "$dom" vda)" |
    jq -e '[."format-specific".data.bitmaps[]?.name] == ["'"$c3"'"]'
