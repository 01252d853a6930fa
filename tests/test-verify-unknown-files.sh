#!/usr/bin/env bash
# Files and chain directories the manifest does not know are reported by
# verify (warnings file-unknown and chain-unknown), the rest still checks OK.
. "${srcdir:-.}/restore-functions.sh"
rf_setup

chain=$(dirname "$(rf_file 0 vda)")
echo stray > "$chain/stray.qcow2"
mkdir "$R/$dom/20991231T000000Z"
echo stray > "$R/$dom/notes.txt"
expect_exit 0 rf_vckpt --json verify "$dom" --repo "$R"
rf_has_finding "$out" file-unknown "$chain/stray.qcow2"
rf_has_finding "$out" file-unknown "$R/$dom/notes.txt"
rf_has_finding "$out" chain-unknown "$R/$dom/20991231T000000Z"
jq -e '.errors == 0 and .warnings == 3' "$out"
