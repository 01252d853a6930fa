#!/usr/bin/env bash
# A source file that no longer matches its record (one byte flipped, its
# size the same) is not propagated: the copy is refused with exit status 1
# naming the file and the mismatch, and the second repository holds what it
# held before (here: nothing, then the points it had); copies.json records
# the failure.  Once the source is whole again, the copy goes through.
. "${srcdir:-.}/copy-functions.sh"
bf_setup
f=$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[2].disks[1].file')
cp "$R/$dom/$f" "$TMPD/good"
printf '\x5a' | dd of="$R/$dom/$f" bs=1 seek=70000 conv=notrunc status=none
cmp -s "$TMPD/good" "$R/$dom/$f" && fail "the byte was not flipped"

expect_exit 1 vckpt copy "$dom" --repo "$R" --to "$D"
assert_grep "$f: xxh3-128 mismatch" "$err"
test -z "$(cf_ids)" || fail "the copy lists backups"
test -z "$(find "$D/$dom" -name '*.qcow2')" || fail "files left in the copy"
test ! -e "$D/$dom/pending.xml"
jq -e '.copies[0].outcome == "failed" and (.copies[0].message | test("mismatch"))' \
   "$R/$dom/copies.json"

# Whole again, it goes over; a damaged new point is refused the same way,
# and the copy keeps what it holds, untouched.
cp "$TMPD/good" "$R/$dom/$f"
cf_copy
test "$(jq -r '.copied' "$out")" = 5
cf_state > "$TMPD/before"
bf_put vda 0x15 12M 1M
bf_backup 5 --auto
f5=$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[5].disks[0].file')
cp "$R/$dom/$f5" "$TMPD/good5"
printf '\x5a' | dd of="$R/$dom/$f5" bs=1 seek=70000 conv=notrunc status=none
expect_exit 1 vckpt copy "$dom" --repo "$R" --to "$D"
assert_grep "$f5: xxh3-128 mismatch" "$err"
cf_state > "$TMPD/after"
cmp "$TMPD/before" "$TMPD/after" || fail "a refused copy changed the copy"
cf_verify_ok
cp "$TMPD/good5" "$R/$dom/$f5"
cf_copy
test "$(jq -r '.copied' "$out")" = 1
cf_restores_ok
