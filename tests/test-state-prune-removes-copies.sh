#!/usr/bin/env bash
# prune removes the NVRAM copies of the points it expires with their other
# files (the merge journal lists them) and keeps the kept point's, which
# still restores.
. "${srcdir:-.}/state-functions.sh"
lab_start
sf_define "$dom"
orig="$TMPD/${dom}_VARS.fd"
for n in 1 2 3; do
    head -c 540672 /dev/urandom > "$orig"
    sha[n]=$(sf_sha "$orig")
    if [ $n = 1 ]; then
        expect_exit 0 vckpt backup "$dom" --full --name c1 --repo "$R"
    else
        expect_exit 0 vckpt backup "$dom" --incremental c$((n - 1)) --name c$n --repo "$R"
    fi
done
assert_eq 3 "$(find "$R/$dom" -name '*.nvram.fd' | wc -l)" "NVRAM copies before prune"
expect_exit 0 vckpt prune "$dom" --repo "$R" --keep-last 1
assert_eq 1 "$(find "$R/$dom" -name '*.nvram.fd' | wc -l)" "NVRAM copies after prune"
id=$(xmllint --xpath "string(/manifest/backup[1]/@id)" "$R/$dom/manifest.xml")
assert_eq "${sha[3]}" "$(sf_sha "$(sf_nvram_file "$id")")" "the kept copy"
expect_exit 0 vckpt --json verify "$dom" --repo "$R"
assert_no_finding "$out" file-unknown
mkdir "$TMPD/to"
expect_exit 0 vckpt restore "$dom" --repo "$R" --to "$TMPD/to" --define new
assert_eq "${sha[3]}" "$(sf_sha "$TMPD/to/new_VARS.fd")" "the restored NVRAM"
