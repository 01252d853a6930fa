#!/usr/bin/env bash
# A copy in a restic repository restores every point of the chain (full,
# incrementals, a differential, an empty increment) bit for bit, through a
# staging directory that is gone afterwards; list-backups --from shows
# what list-backups shows of the repository, and verify --from finds the
# copy sound (restic check, every file's checksum through restic dump).
. "${srcdir:-.}/restic-functions.sh"
bf_setup
rs_init
rs_copy
snap=$(jq -r .snapshot "$out")
assert_eq "$(jq -r .id "$TMPD/k4.json")" "$(jq -r .backup "$out")" \
    "the copy's backup"
# The snapshot is the domain directory, tagged, without the lock file.
rs_restic snapshots --json | jq -e --arg d "domain=$dom" \
    '.[0].tags | (index("vckpt") != null) and (index($d) != null)'
rs_restic ls "$snap" >"$TMPD/ls"
assert_grep '^/manifest.xml$' "$TMPD/ls"
assert_no_grep '^/lock$' "$TMPD/ls"

for i in 0 1 2 3 4; do
    rs_restore_point "$i" ""
done

expect_exit 0 vckpt --json list-backups "$dom" --repo "$R"
jq -S '[.backups[] | del(.last_drill)]' "$out" >"$TMPD/repo.json"
expect_exit 0 vckpt --json list-backups "$dom" --from "restic:$RR" --password-file "$RP"
jq -S '[.backups[] | del(.last_drill)]' "$out" >"$TMPD/copy.json"
cmp "$TMPD/repo.json" "$TMPD/copy.json" || fail "list-backups --from differs"
jq -e --arg s "$snap" '.snapshot.id | startswith($s)' "$out"

expect_exit 0 vckpt --json verify "$dom" --from "restic:$RR" --password-file "$RP"
jq -e '.backups == 5 and .files == 10 and .errors == 0' "$out"

# --json names the snapshot restored from.
mkdir "$TMPD/rj"
expect_exit 0 vckpt --json restore "$dom" --from "restic:$RR" --password-file "$RP" \
    --to "$TMPD/rj"
jq -e --arg s "$snap" --arg b "$(jq -r .id "$TMPD/k4.json")" \
    '(.snapshot.id | startswith($s)) and .backup == $b and .verified' "$out"
