#!/usr/bin/env bash
# A domain with neither UEFI variables nor a TPM: its backup has no state
# files and the manifest no <state>, as before.
. "${srcdir:-.}/state-functions.sh"
lab_start
lab_domain_define "$dom" --disk 16M
lab_domain_start "$dom"
expect_exit 0 vckpt backup "$dom" --full --name c1 --repo "$R"
lab_domain_stop "$dom"
expect_exit 0 vckpt backup "$dom" --incremental c1 --name c2 --repo "$R"
for i in 1 2; do
    id=$(xmllint --xpath "string(/manifest/backup[$i]/@id)" "$R/$dom/manifest.xml")
    chain=$(xmllint --xpath "string(/manifest/backup[$i]/chain)" "$R/$dom/manifest.xml")
    assert_eq "$id.checkpoint.xml $id.domain.xml $id.vda.qcow2" \
              "$(cd "$R/$dom/$chain" && ls "$id".* | sort | xargs)" "the files of $id"
done
assert_eq 0 "$(xmllint --xpath 'count(//state)' "$R/$dom/manifest.xml")" "<state> elements"
expect_exit 0 vckpt verify "$dom" --repo "$R"
mkdir "$TMPD/to"
expect_exit 0 vckpt restore "$dom" --repo "$R" --to "$TMPD/to" --define new
assert_eq "new-vda.qcow2" "$(ls "$TMPD/to")" "restored files"
virsh dumpxml new > "$TMPD/new.xml"
assert_no_grep "<nvram|<tpm" "$TMPD/new.xml"
