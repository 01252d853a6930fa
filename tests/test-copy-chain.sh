#!/usr/bin/env bash
# copy into an empty second repository: the five points of a chain (full,
# incremental, --auto, differential, empty incremental) of a two-disk
# domain, each restored from the copy bit for bit; directories 0711, files
# 0600; verify finds nothing; the source records the copy in copies.json,
# which status shows.
# A second copy copies nothing and changes nothing; new backups then go
# over alone, stacked on the points the copy already holds.
. "${srcdir:-.}/copy-functions.sh"
bf_setup

cf_copy
test "$(jq -r '.copied' "$out")" = 5
for id in $(cf_ids "$R"); do
    test "$(cf_action "$id")" = copied || fail "backup $id: $(cf_action "$id")"
done
test "$(cf_ids)" = "$(cf_ids "$R")"
cf_restores_ok
cf_verify_ok
cf_modes
# The files are the source's, byte for byte, and their records too.
for f in $(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[].disks[].file'); do
    cmp "$R/$dom/$f" "$D/$dom/$f" || fail "$f differs from the source's"
done
test "$(vckpt --json list-backups "$dom" --repo "$D" | jq -c '[.backups[].disks[].checksum]')" = \
     "$(vckpt --json list-backups "$dom" --repo "$R" | jq -c '[.backups[].disks[].checksum]')"
jq -e --arg d "$D" --arg b "$(cf_ids "$R" | tail -n 1)" \
   '.version == 1 and (.copies | length == 1) and .copies[0].destination == $d and
    .copies[0].outcome == "ok" and .copies[0].backup == $b' "$R/$dom/copies.json"
test "$(stat -c %a "$R/$dom/copies.json")" = 600
expect_exit 0 vckpt --json status --repo "$R"
jq -e --arg d "$D" --arg dom "$dom" '.repositories[].domains[] | select(.domain == $dom) |
    .last_copy.result == "ok" and .last_copy.destination == $d' "$out"
cf_verify_ok "$R"

# Again: nothing new, nothing written.
cf_state > "$TMPD/before"
cf_copy
test "$(jq -r '.copied, .bytes' "$out" | tr '\n' ' ')" = "0 0 "
cf_state > "$TMPD/after"
cmp "$TMPD/before" "$TMPD/after" || fail "a copy with nothing new changed the copy"

# New backups go over alone, on the points the copy holds.
bf_put vda 0x15 12M 1M
bf_backup 5 --incremental k4
bf_put vdb 0x22 20M 1M
bf_backup 6 --auto
cf_copy
test "$(jq -r '.copied' "$out")" = 2
for id in $(cf_ids "$R" | tail -n 2); do
    test "$(cf_action "$id")" = copied || fail "backup $id: $(cf_action "$id")"
done
test "$(jq -r '[.backups[] | select(.action == "present")] | length' "$out")" = 5
test "$(cf_ids)" = "$(cf_ids "$R")"
cf_restores_ok
cf_verify_ok
cf_modes
test "$(jq -r '.copies | length' "$R/$dom/copies.json")" = 1
