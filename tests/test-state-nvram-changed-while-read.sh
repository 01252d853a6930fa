#!/usr/bin/env bash
# The NVRAM file changes between the two reads of a backup (held at the
# test hook state-read): that copy is not taken; the next try reads the
# file as it is now, and the backup keeps those bytes.
. "${srcdir:-.}/state-functions.sh"
lab_start
sf_define "$dom"
orig="$TMPD/${dom}_VARS.fd"
head -c 540672 /dev/urandom > "$orig"
VCKPT_TEST_HOOK=state-read sf_start backup "$dom" --full --name c1 --repo "$R"
wait_stopped "$pid"
head -c 540672 /dev/urandom > "$TMPD/new"
cat "$TMPD/new" > "$orig"      # in place, as QEMU writes it
sum=$(sf_sha "$orig")
kill -CONT "$pid"
wait_stopped "$pid"         # the second try
kill -CONT "$pid"
rc=0
wait "$pid" || rc=$?
cat "$TMPD/e"
assert_eq 0 "$rc" "exit status"
id=$(xmllint --xpath "string(/manifest/backup[1]/@id)" "$R/$dom/manifest.xml")
assert_eq "$sum" "$(sf_sha "$(sf_nvram_file "$id")")" "the stored copy"
