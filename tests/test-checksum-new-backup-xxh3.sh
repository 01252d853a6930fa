#!/usr/bin/env bash
# A new backup records the XXH3-128 of every disk file (<checksum
# type="xxh3-128">, manifest format version 2; list-backups --json says
# checksum and checksum_type, and no sha256 key), equal to what xxh128sum
# (the reference tool) prints; verify passes.  One flipped byte in the
# full backup's file: verify exits 1 with a checksum-mismatch naming
# xxh3-128, and restore refuses the chain, leaving nothing behind.
. "${srcdir:-.}/restore-functions.sh"
requires xxh128sum --version
rf_setup

M=$R/$dom/manifest.xml
xmllint --noout "$M"
test "$(xmllint --xpath 'string(/manifest/@version)' "$M")" = 2 ||
    fail "the manifest's version is not 2"
test "$(xmllint --xpath 'count(//sha256)' "$M")" = 0 || fail "a new record has <sha256>"
test "$(xmllint --xpath 'count(//disk/checksum[@type="xxh3-128"])' "$M")" = 2 ||
    fail "not every disk record has <checksum type=\"xxh3-128\">"

vckpt --json list-backups "$dom" --repo "$R" >"$TMPD/list.json"
for n in 0 1; do
    f=$(rf_file "$n" vda)
    want=$(xxh128sum <"$f" | cut -d' ' -f1)
    test "${#want}" -eq 32
    jq -e --argjson n "$n" --arg w "$want" \
       '.backups[$n].disks[0] | .checksum == $w and .checksum_type == "xxh3-128" and
        (has("sha256") | not)' "$TMPD/list.json" ||
        fail "list-backups does not show backup $n's xxh3-128 $want"
    id=$(rf_id "$n")
    test "$(xmllint --xpath "string(/manifest/backup[@id='$id']/disks/disk/checksum)" "$M")" = \
         "$want" || fail "the manifest's checksum of backup $n is not $want"
done

expect_exit 0 vckpt --json verify "$dom" --repo "$R"
jq -e '.findings == []' "$out"

# One byte of the full backup's guest data changes.
f=$(rf_file 0 vda)
off=$(qemu-img map --output=json -f qcow2 "$f" |
      jq '[.[] | select(.data and .offset != null)][0].offset')
test "$off" -gt 0
printf '\x99' | dd of="$f" bs=1 seek=$((off + 100)) conv=notrunc status=none

expect_exit 1 vckpt --json verify "$dom" --repo "$R"
assert_finding "$out" checksum-mismatch image="$f" message~'xxh3-128 mismatch'
expect_exit 1 vckpt verify "$dom" --repo "$R"
grep -q 'xxh3-128 mismatch' "$out" "$err" || fail "verify's text does not name xxh3-128"

mkdir "$TMPD/to"
expect_exit 1 rf_vckpt restore "$dom" --repo "$R" --to "$TMPD/to"
grep -q "$(basename "$f"): xxh3-128 mismatch: [0-9a-f]\{32\}, the manifest says" "$err"
test -z "$(ls -A "$TMPD/to")" || fail "restore left files behind: $(ls -A "$TMPD/to")"
