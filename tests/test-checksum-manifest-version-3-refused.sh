#!/usr/bin/env bash
# A manifest of a format version this vckpt does not know (3) is refused
# with the message an older vckpt gives version 2, exit 1, by every command
# that reads it, and is left as it was.
. "${srcdir:-.}/restore-functions.sh"
lab_start
lab_domain_define "$dom" --disk 16M
lab_domain_start "$dom"
lab_write "$dom" vda 0x41 0 1M
vckpt -q backup "$dom" --full --name c1 --repo "$R"
M=$R/$dom/manifest.xml
grep -q '<manifest version="2">' "$M"
sed -i 's|<manifest version="2">|<manifest version="3">|' "$M"
cp "$M" "$TMPD/before.xml"

for cmd in "list-backups $dom" "verify $dom" "backup $dom --incremental c1 --name c2"; do
    # shellcheck disable=SC2086
    expect_exit 1 vckpt $cmd --repo "$R"
    grep -q "manifest.xml: format version 3 is not supported by this vckpt" "$err" ||
        fail "'$cmd' does not say that version 3 is not supported"
done
mkdir "$TMPD/to"
expect_exit 1 rf_vckpt restore "$dom" --repo "$R" --to "$TMPD/to"
grep -q "format version 3 is not supported" "$err"
cmp "$M" "$TMPD/before.xml" || fail "the manifest was changed"
test "$(virsh -q checkpoint-list "$dom" --name)" = c1 || fail "a checkpoint was left behind"
