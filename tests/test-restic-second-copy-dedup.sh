#!/usr/bin/env bash
# A second copy after more backups is a second snapshot that stores only
# what changed (restic finds the first as its parent: the old files are
# unmodified, and the restic repository grows by far less than the
# domain's repository holds); both snapshots restore their points bit for
# bit; prune --from with vckpt's rules maps onto restic forget and prune
# (the newest kept), --dry-run changes nothing; a copy with a wrong
# password fails with exit 2 and adds nothing.
. "${srcdir:-.}/restic-functions.sh"
bf_setup
rs_init
rs_copy
snap1=$(jq -r .snapshot "$out")
s1=$(rs_restic stats --json --mode raw-data | jq .total_size)
repo_bytes=$(du -sb --apparent-size "$R/$dom" | cut -f1)

bf_put vda 0x15 16M 1M
bf_backup 5 --auto

echo "not the password" >"$TMPD/wrong.pw"
expect_exit 2 vckpt copy "$dom" --repo "$R" --to "restic:$RR" --password-file "$TMPD/wrong.pw"
assert_grep 'restic refused the password' "$err"
assert_eq 1 "$(rs_snapshots | wc -l)" "snapshots after the refused copy"

rs_copy
snap2=$(jq -r .snapshot "$out")
s2=$(rs_restic stats --json --mode raw-data | jq .total_size)
# The files of the first five backups are the parent's, unmodified (new:
# k5's files and copies.json, written after the first copy).
jq -e '.files_unmodified >= 10 and .files_new <= 5' "$out"
grow=$(( s2 - s1 ))
[ "$grow" -lt $(( repo_bytes / 4 )) ] ||
    fail "the second copy added $grow bytes, the domain's repository holds $repo_bytes"
rs_restic snapshots --json | jq -e --arg s "$snap2" --arg b "$(jq -r .id "$TMPD/k5.json")" \
    '.[] | select(.short_id == $s or .id == $s) | .tags | index("backup=" + $b) != null'

expect_exit 0 vckpt --json list-backups "$dom" --from "restic:$RR" --password-file "$RP"
jq -e '(.backups | length) == 6' "$out"
expect_exit 0 vckpt --json list-backups "$dom" --from "restic:$RR" --password-file "$RP" \
    --snapshot "$snap1"
jq -e '(.backups | length) == 5' "$out"

rs_restore_point 5 ""
rs_restore_point 2 "$snap1"

expect_exit 0 vckpt --json prune "$dom" --from "restic:$RR" --password-file "$RP" \
    --keep-last 1 --dry-run
jq -e --arg s "$snap1" '[.snapshots[] | select(.kept | not) | .id] | length == 1 and
                        (.[0] | startswith($s))' "$out"
assert_eq 2 "$(rs_snapshots | wc -l)" "snapshots after prune --dry-run"

expect_exit 0 vckpt prune "$dom" --from "restic:$RR" --password-file "$RP" --keep-last 1
assert_grep "1 kept, 1 removed" "$out"
assert_eq 1 "$(rs_snapshots | wc -l)" "snapshots after prune"
rs_snapshots | grep -q "^$snap2" || fail "prune did not keep the newest snapshot"
rs_restic check
rs_restore_point 0 ""
