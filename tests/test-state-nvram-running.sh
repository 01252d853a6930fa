#!/usr/bin/env bash
# A running UEFI domain (the firmware owns its variables file): the backup
# keeps a consistent copy of <nvram>; restore --define gives the new domain
# a copy with the same bytes at a new path, and the new domain starts on it.
. "${srcdir:-.}/state-functions.sh"
lab_start
sf_define "$dom"
orig="$TMPD/${dom}_VARS.fd"
lab_domain_start "$dom"
before=$(sf_sha "$orig")
expect_exit 0 vckpt backup "$dom" --full --name c1 --repo "$R"
after=$(sf_sha "$orig")
id=$(xmllint --xpath "string(/manifest/backup[1]/@id)" "$R/$dom/manifest.xml")
copy=$(sf_nvram_file "$id")
stored=$(sf_sha "$copy")
assert_eq "$(xxh128sum <"$copy" | cut -d' ' -f1)" \
          "$(xmllint --xpath "string(/manifest/backup[1]/state/nvram/checksum[@type='xxh3-128'])" \
                     "$R/$dom/manifest.xml")" "the manifest's XXH3-128"
# The copy is the file as it was during the backup.
if [ "$before" = "$after" ]; then
    assert_eq "$before" "$stored" "the stored copy"
fi
expect_exit 0 vckpt verify "$dom" --repo "$R"

mkdir "$TMPD/to"
expect_exit 0 vckpt restore "$dom" --repo "$R" --to "$TMPD/to" --define new
assert_eq "$stored" "$(sf_sha "$TMPD/to/new_VARS.fd")" "the new domain's NVRAM"
assert_eq "$TMPD/to/new_VARS.fd" \
          "$(virsh dumpxml new | xmllint --xpath 'string(/domain/os/nvram)' -)" "<nvram>"
assert_eq "$orig" "$(virsh dumpxml "$dom" | xmllint --xpath 'string(/domain/os/nvram)' -)"
# The new domain runs on its own copy, the original on its file.
lab_domain_start new
lab_domain_state new | grep -qx running
lab_domain_stop "$dom"
lab_domain_stop new
