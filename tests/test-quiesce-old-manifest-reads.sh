#!/usr/bin/env bash
# A manifest written before vckpt recorded quiesced="yes|no" still reads:
# list-backups says null in --json and no quiesced line, verify passes,
# and the next backup records the attribute for itself only.
. "${srcdir:-.}/faults-functions.sh"
set -e -x
faults_setup
put vda 0x31 0 1M

expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name a1
grep -q 'quiesced="no"' "$R/$dom/manifest.xml"
sed -i 's/ quiesced="no"//' "$R/$dom/manifest.xml"
assert_no_grep 'quiesced=' "$R/$dom/manifest.xml"
expect_exit 0 vckpt --json list-backups "$dom" --repo "$R"
test "$(jq -r '.backups[0].quiesced' "$out")" = null
expect_exit 0 vckpt list-backups "$dom" --repo "$R"
assert_no_grep 'quiesced' "$out"
expect_exit 0 vckpt verify "$dom" --repo "$R"

put vda 0x32 1M 1M
expect_exit 0 vckpt backup "$dom" --repo "$R" --auto --name a2
expect_exit 0 vckpt --json list-backups "$dom" --repo "$R"
test "$(jq -c '[.backups[].quiesced]' "$out")" = '[null,false]'
xmllint --noout --relaxng "$abs_top_srcdir/xml/manifest.rng" "$R/$dom/manifest.xml"
restored_ok a2 vda
