#!/usr/bin/env bash
# The NVRAM copy of a backup written before XXH3-128 (its record <sha256>,
# manifest version 1, made by hand from a real backup of a shut-off UEFI
# domain): verify passes and restore --define gives the new domain the
# same bytes; a flipped byte in the copy makes verify report a sha256
# mismatch and restore refuse.
. "${srcdir:-.}/state-functions.sh"
lab_start
sf_define "$dom"
orig="$TMPD/${dom}_VARS.fd"
head -c 540672 /dev/urandom > "$orig"
sum=$(sf_sha "$orig")
expect_exit 0 vckpt backup "$dom" --full --name c1 --repo "$R"

M=$R/$dom/manifest.xml
id=$(xmllint --xpath "string(/manifest/backup[1]/@id)" "$M")
copy=$(sf_nvram_file "$id")
disk=$R/$dom/$(xmllint --xpath "string(/manifest/backup[1]/disks/disk/file)" "$M")
as_old_sha256 "$M" "$copy" "$disk"
assert_eq 0 "$(xmllint --xpath 'count(//checksum)' "$M")" "records left as xxh3-128"
assert_eq "$sum" "$(xmllint --xpath 'string(/manifest/backup[1]/state/nvram/sha256)' "$M")" \
          "the NVRAM record"

expect_exit 0 vckpt --json verify "$dom" --repo "$R"
jq -e '.findings == []' "$out"
mkdir "$TMPD/to"
expect_exit 0 vckpt restore "$dom" --repo "$R" --to "$TMPD/to" --define new
assert_eq "$sum" "$(sf_sha "$TMPD/to/new_VARS.fd")" "the new domain's NVRAM"

printf '\xff' | dd of="$copy" bs=1 seek=4096 count=1 conv=notrunc status=none
if [ "$(sf_sha "$copy")" = "$sum" ]; then
    printf '\x00' | dd of="$copy" bs=1 seek=4096 count=1 conv=notrunc status=none
fi
expect_exit 1 vckpt --json verify "$dom" --repo "$R"
assert_finding "$out" checksum-mismatch "image=$copy" message~'NVRAM copy: sha256 mismatch'
mkdir "$TMPD/to2"
expect_exit 1 vckpt restore "$dom" --repo "$R" --to "$TMPD/to2" --define new2
assert_grep "NVRAM copy: sha256 mismatch: .*the file changed since the backup" "$err"
assert_eq "" "$(ls -A "$TMPD/to2")" "files left by the refused restore"
if virsh dominfo new2 >/dev/null 2>&1; then
    fail "the refused restore defined domain new2"
fi
