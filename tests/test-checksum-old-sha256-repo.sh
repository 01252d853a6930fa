#!/usr/bin/env bash
# A repository written before XXH3-128 (its records <sha256>, manifest
# format version 1), made by hand from a real full backup: verify passes;
# the restore is verified and bit for bit what was written; a new
# incremental on top makes a mixed manifest of version 2 in which the old
# record is unchanged and both verify; damage in the old file makes verify
# exit 1 naming sha256, and restore refuse it.
. "${srcdir:-.}/restore-functions.sh"
requires xxh128sum --version
lab_start
lab_domain_define "$dom" --disk 16M
lab_domain_start "$dom"
qemu-img create -q -f qcow2 "$TMPD/model.qcow2" 16M
lab_write "$dom" vda 0x31 0 1M
qemu-io -f qcow2 -c "write -P 0x31 0 1M" "$TMPD/model.qcow2" >/dev/null
cp "$TMPD/model.qcow2" "$TMPD/m1-vda.qcow2"
vckpt -q backup "$dom" --full --name c1 --repo "$R"

# What an older vckpt wrote: the same record with <sha256>, version 1.
M=$R/$dom/manifest.xml
f0=$(rf_file 0 vda)
s0=$(sha256sum <"$f0" | cut -d' ' -f1)
as_old_sha256 "$M" "$f0"
test "$(xmllint --xpath 'string(/manifest/@version)' "$M")" = 1
test "$(xmllint --xpath 'count(//checksum)' "$M")" = 0
test "$(xmllint --xpath 'string(//disk/sha256)' "$M")" = "$s0"
cp "$M" "$TMPD/old-manifest.xml"

expect_exit 0 vckpt --json verify "$dom" --repo "$R"
jq -e '.findings == []' "$out"
expect_exit 0 vckpt --json list-backups "$dom" --repo "$R"
jq -e --arg s "$s0" '.backups[0].disks[0] |
                     .checksum == $s and .checksum_type == "sha256" and .sha256 == $s' "$out"
mkdir "$TMPD/to1"
expect_exit 0 rf_vckpt --json restore "$dom" --repo "$R" --to "$TMPD/to1"
jq -e '.verified == true' "$out"
qemu-img compare -q "$TMPD/m1-vda.qcow2" "$TMPD/to1/vda.qcow2" ||
    fail "the restore of the sha256 backup differs from what was written"

# A new incremental on top: the manifest becomes version 2, the old
# record stays exactly as it was.
lab_write "$dom" vda 0x32 1M 1M
qemu-io -f qcow2 -c "write -P 0x32 1M 1M" "$TMPD/model.qcow2" >/dev/null
cp "$TMPD/model.qcow2" "$TMPD/m2-vda.qcow2"
vckpt -q backup "$dom" --incremental c1 --name c2 --repo "$R"
test "$(xmllint --xpath 'string(/manifest/@version)' "$M")" = 2 ||
    fail "a manifest with an xxh3-128 record is not version 2"
id0=$(rf_id 0)
test "$(xmllint --xpath "string(/manifest/backup[@id='$id0']/disks/disk/sha256)" "$M")" = "$s0" ||
    fail "the old record's <sha256> changed"
test "$(xmllint --xpath "count(/manifest/backup[@id='$id0']/disks/disk/checksum)" "$M")" = 0
f1=$(rf_file 1 vda)
x1=$(xxh128sum <"$f1" | cut -d' ' -f1)
id1=$(rf_id 1)
test "$(xmllint --xpath "string(/manifest/backup[@id='$id1']/disks/disk/checksum[@type='xxh3-128'])" \
        "$M")" = "$x1" || fail "the new record is not xxh3-128 $x1"
test "$(xmllint --xpath "count(/manifest/backup[@id='$id1']//sha256)" "$M")" = 0
expect_exit 0 vckpt --json list-backups "$dom" --repo "$R"
jq -e --arg s "$s0" --arg x "$x1" \
   '(.backups[0].disks[0] | .checksum_type == "sha256" and .sha256 == $s) and
    (.backups[1].disks[0] | .checksum_type == "xxh3-128" and .checksum == $x and
                            (has("sha256") | not))' "$out"
expect_exit 0 vckpt --json verify "$dom" --repo "$R"
jq -e '.findings == [] and .files == 2' "$out"
mkdir "$TMPD/to2"
expect_exit 0 rf_vckpt --json restore "$dom" --repo "$R" --to "$TMPD/to2"
jq -e '.verified == true' "$out"
qemu-img compare -q "$TMPD/m2-vda.qcow2" "$TMPD/to2/vda.qcow2" ||
    fail "the restore of the mixed chain differs from what was written"

# Damage in the old (sha256) file.
off=$(qemu-img map --output=json -f qcow2 "$f0" |
      jq '[.[] | select(.data and .offset != null)][0].offset')
test "$off" -gt 0
printf '\x99' | dd of="$f0" bs=1 seek=$((off + 100)) conv=notrunc status=none
expect_exit 1 vckpt --json verify "$dom" --repo "$R"
assert_finding "$out" checksum-mismatch image="$f0" message~'sha256 mismatch'
assert_no_finding "$out" checksum-mismatch image="$f1"
mkdir "$TMPD/to3"
expect_exit 1 rf_vckpt restore "$dom" --repo "$R" --to "$TMPD/to3"
grep -q "$(basename "$f0"): sha256 mismatch: [0-9a-f]\{64\}, the manifest says $s0" "$err"
test -z "$(ls -A "$TMPD/to3")" || fail "restore left files behind: $(ls -A "$TMPD/to3")"
