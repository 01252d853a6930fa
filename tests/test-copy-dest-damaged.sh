#!/usr/bin/env bash
# A file of the second repository damaged after the copy: verify there
# finds it; the next copy puts it back from the source, which holds the
# same bytes (the same record): a truncated file by every copy, a flipped
# byte (the size unchanged) by copy --verify, which reads every file the
# two share.  A damaged file the source has no copy of is reported (exit
# status 1) and left alone.
. "${srcdir:-.}/copy-functions.sh"
bf_setup
cf_copy

f=$(vckpt --json list-backups "$dom" --repo "$D" | jq -r '.backups[1].disks[0].file')
printf '\x5a' | dd of="$D/$dom/$f" bs=1 seek=70000 conv=notrunc status=none
expect_exit 1 vckpt --json verify "$dom" --repo "$D"
jq -e --arg f "$f" '[.findings[] | select((.image // "") | endswith($f))] | length > 0' "$out"
cf_copy
test "$(jq -r '.repaired | length' "$out")" = 0     # same size: not looked into
cf_copy --verify
test "$(jq -r '.repaired | join(" ")' "$out")" = "$f"
cmp "$R/$dom/$f" "$D/$dom/$f"
cf_verify_ok

g=$(vckpt --json list-backups "$dom" --repo "$D" | jq -r '.backups[3].disks[1].file')
truncate -s 100 "$D/$dom/$g"
cf_copy
test "$(jq -r '.repaired | join(" ")' "$out")" = "$g"
cmp "$R/$dom/$g" "$D/$dom/$g"
cf_verify_ok
cf_restores_ok

# Prune the source: the copy's files of the points merged there have no
# copy left in the source.
expect_exit 0 vckpt prune "$dom" --repo "$R" --keep-last 1
truncate -s 100 "$D/$dom/$g"
expect_exit 1 vckpt copy "$dom" --repo "$R" --to "$D"
assert_grep "could not be put back" "$err"
test "$(stat -c %s "$D/$dom/$g")" = 100
