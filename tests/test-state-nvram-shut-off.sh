#!/usr/bin/env bash
# A shut-off UEFI domain: the backup keeps its variables file (<nvram>) as
# a file of the backup (0600, XXH3-128 in the manifest); restore --define
# gives the new domain its own copy with the same bytes at a new path, the
# original's file untouched; verify and restore detect a flipped byte in
# the stored copy.
. "${srcdir:-.}/state-functions.sh"
lab_start
sf_define "$dom"
orig="$TMPD/${dom}_VARS.fd"
# A known pattern no firmware writes: the domain never starts.
head -c 540672 /dev/urandom > "$orig"
sum=$(sf_sha "$orig")

expect_exit 0 vckpt backup "$dom" --full --name c1 --repo "$R"
id=$(xmllint --xpath "string(/manifest/backup[1]/@id)" "$R/$dom/manifest.xml")
copy=$(sf_nvram_file "$id")
assert_eq "$R/$dom/$(xmllint --xpath "string(/manifest/backup[1]/chain)" \
                     "$R/$dom/manifest.xml")/$id.nvram.fd" "$copy" "the copy's name"
assert_eq "$sum" "$(sf_sha "$copy")" "the stored copy"
assert_eq 600 "$(stat -c %a "$copy")" "the copy's mode"
assert_eq "$(xxh128sum <"$copy" | cut -d' ' -f1)" \
          "$(xmllint --xpath "string(/manifest/backup[1]/state/nvram/checksum[@type='xxh3-128'])" \
                     "$R/$dom/manifest.xml")" "the manifest's XXH3-128"
assert_eq 540672 "$(xmllint --xpath "string(/manifest/backup[1]/state/nvram/size)" \
                    "$R/$dom/manifest.xml")" "the manifest's size"
expect_exit 0 vckpt verify "$dom" --repo "$R"

mkdir "$TMPD/to"
expect_exit 0 vckpt restore "$dom" --repo "$R" --to "$TMPD/to" --define new
assert_eq "$sum" "$(sf_sha "$TMPD/to/new_VARS.fd")" "the new domain's NVRAM"
assert_eq 600 "$(stat -c %a "$TMPD/to/new_VARS.fd")" "the new NVRAM's mode"
assert_eq "$TMPD/to/new_VARS.fd" \
          "$(virsh dumpxml new | xmllint --xpath 'string(/domain/os/nvram)' -)" "<nvram>"
assert_eq "$sum" "$(sf_sha "$orig")" "the original's NVRAM"
assert_eq "$orig" "$(virsh dumpxml "$dom" | xmllint --xpath 'string(/domain/os/nvram)' -)"

# A flipped byte in the stored copy: verify reports it, restore refuses
# and leaves nothing behind.
printf '\xff' | dd of="$copy" bs=1 seek=4096 count=1 conv=notrunc status=none
if [ "$(sf_sha "$copy")" = "$sum" ]; then
    printf '\x00' | dd of="$copy" bs=1 seek=4096 count=1 conv=notrunc status=none
fi
expect_exit 1 vckpt --json verify "$dom" --repo "$R"
assert_finding "$out" checksum-mismatch severity=error "image=$copy"
mkdir "$TMPD/to2"
expect_exit 1 vckpt restore "$dom" --repo "$R" --to "$TMPD/to2" --define new2
assert_grep "NVRAM copy: .*the file changed since the backup" "$err"
assert_eq "" "$(ls -A "$TMPD/to2")" "files left by the refused restore"
if virsh dominfo new2 >/dev/null 2>&1; then
    fail "the refused restore defined domain new2"
fi
