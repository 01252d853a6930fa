#!/usr/bin/env bash
# An --instant interrupted before it made its overlays leaves its entry in
# instant.json: libvirt has no such domain and none of the overlays
# exists, so nothing can run from it.  The next --instant of that name
# removes the stale entry (a warning) and goes on, and prune does not keep
# backups for it.
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/drill-functions.sh"
set -e -x
requires_root
instant_base 16M 0x71 1M
I=$TMPD/instant
mkdir "$I"
lab_domain_start "$dom"
lab_write "$dom" vda 0x72 1M 1M
expect_exit 0 vckpt backup "$dom" --repo "$R" --auto --name c2
lab_domain_stop "$dom"
id1=$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[0].id')
cat > "$R/$dom/instant.json" <<JSON
{"version": 1, "domains": [{"name": "n1", "backup": "$id1",
  "overlays": ["$I/n1-vda.instant.qcow2"], "start": 1}]}
JSON
chmod 600 "$R/$dom/instant.json"

# prune does not keep the first backup for the stale entry.
expect_exit 0 vckpt --json prune "$dom" --repo "$R" --keep-last 1 --dry-run
jq -e '.backups[0].kept == false' "$out" || fail "prune kept a backup for a stale entry"

expect_exit 0 vckpt restore "$dom" --instant --define n1 --to "$I" --repo "$R"
assert_grep "'n1' in .*instant.json names no overlay that exists: a stale entry" "$err"
test "$(lab_domain_state n1)" = running
jq -e '.domains | length == 1 and .[0].name == "n1" and .[0].start > 1' "$R/$dom/instant.json"
