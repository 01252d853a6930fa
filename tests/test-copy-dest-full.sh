#!/usr/bin/env bash
# The second repository's file system is full (a small tmpfs): the copy
# fails with exit status 1 naming the file it could not write, and rolls
# back: the repository holds what it held before, no file of the copy is
# left, verify finds nothing; with room again, the copy goes through.
. "${srcdir:-.}/copy-functions.sh"
requires mount --version
bf_setup
mkdir "$TMPD/small"
mount -t tmpfs -o size=24M,mode=0755 tmpfs "$TMPD/small"
cleanup_fn umount -l "$TMPD/small"
D=$TMPD/small/dest
cf_copy
cf_state > "$TMPD/before"

# More than the room left: 16 MiB of new data on each disk.
bf_put vda 0x61 32M 16M
bf_put vdb 0x62 0 16M
bf_backup 5 --auto
expect_exit 1 vckpt copy "$dom" --repo "$R" --to "$D"
assert_grep "No space left on device" "$err"
cf_state > "$TMPD/after"
cmp "$TMPD/before" "$TMPD/after" || fail "the failed copy changed the copy"
test ! -e "$D/$dom/pending.xml"
n=$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '[.backups[].disks[]] | length')
test "$(find "$D/$dom" -name '*.qcow2' | wc -l)" = $((n - 2)) || fail "files of the failed copy are left"
cf_verify_ok
jq -e '.copies[0].outcome == "failed"' "$R/$dom/copies.json"

mount -o remount,size=96M "$TMPD/small"
cf_copy
test "$(jq -r '.copied' "$out")" = 1
cf_restores_ok
cf_verify_ok
