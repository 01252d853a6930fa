#!/usr/bin/env bash
# An NVRAM file that changes during each of the five tries: the backup
# fails (status 1) with a message naming the file, and is rolled back:
# no checkpoint, no files, no manifest entry.
. "${srcdir:-.}/state-functions.sh"
lab_start
sf_define "$dom"
orig="$TMPD/${dom}_VARS.fd"
head -c 540672 /dev/urandom > "$orig"
VCKPT_TEST_HOOK=state-read sf_start backup "$dom" --full --name c1 --repo "$R"
for try in 1 2 3 4 5; do
    wait_stopped "$pid"
    printf "try $try" | dd of="$orig" bs=1 seek=100 conv=notrunc status=none
    kill -CONT "$pid"
done
rc=0
wait "$pid" || rc=$?
cat "$TMPD/e"
assert_eq 1 "$rc" "exit status"
assert_grep "NVRAM file $orig changed each of the 5 times it was read" "$TMPD/e"
assert_grep "rolled back" "$TMPD/e"
assert_eq "" "$(virsh checkpoint-list "$dom" --name)" "checkpoints left"
if [ -n "$(find "$R/$dom" -mindepth 1 -maxdepth 1 -type d)" ]; then
    find "$R/$dom" -ls
    fail "the rolled-back backup left a chain directory"
fi
if [ -e "$R/$dom/manifest.xml" ] &&
   [ "$(xmllint --xpath 'count(/manifest/backup)' "$R/$dom/manifest.xml")" != 0 ]; then
    fail "the manifest lists the failed backup"
fi
