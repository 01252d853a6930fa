#!/usr/bin/env bash
# status after good backups: each domain's newest backup (level, time,
# host it came from, as the manifest records it), its chain's length, what
# its files take, its last drill and copy from their side records; all
# fresh, so exit 0.  The manifest records the host in a form its schema
# accepts.
. "${srcdir:-.}/status-functions.sh"
st_setup s1 s2
expect_exit 0 vckpt backup s1 --full --repo "$R"
lab_write s1 vda 0x11 2M 512K
expect_exit 0 vckpt backup s1 --auto --repo "$R"
expect_exit 0 vckpt backup s2 --full --repo "$R"
host=$(hostname)

st_json
jq -e '.ok == true and .counts.domains == 2 and .counts.ok == 2' "$out"
test "$(st_domain s1 .state)" = ok
test "$(st_domain s1 .last_backup.level)" = incremental
test "$(st_domain s1 .chain_length)" -eq 2
test "$(st_domain s1 .backups)" -eq 2
test "$(st_domain s2 .last_backup.level)" = full
test "$(st_domain s2 .chain_length)" -eq 1
newest=$(vckpt --json list-backups s1 --repo "$R" | jq -r '.backups[-1].id')
test "$(st_domain s1 .last_backup.id)" = "$newest"
# The host the backup came from, and the connection: the manifest's record.
test "$(st_domain s1 .last_backup.host)" = "$host"
test "$(st_domain s1 .last_backup.uri)" = "$LAB_URI"
xmllint --noout --relaxng "$abs_top_srcdir/xml/manifest.rng" "$R/s1/manifest.xml"
test "$(xmllint --xpath 'string(/manifest/backup[last()]/host)' "$R/s1/manifest.xml")" = "$host"
test "$(vckpt --json list-backups s1 --repo "$R" | jq -r '.backups[0].host_uri')" = "$LAB_URI"
# Its files' size: what the files of its chain allocate.
bytes=$(find "$R/s1" -mindepth 2 -type f -printf '%b\n' | awk '{ s += $1 * 512 } END { print s }')
test "$(st_domain s1 .bytes)" -eq "$bytes"
# Its age: between 0 and the time this test has run.
age=$(st_domain s1 .last_backup.age)
test "$age" -ge 0 && test "$age" -lt 600
test "$(st_domain s1 .max_age)" -eq $((26 * 3600))
# The last attempt made the newest backup.
test "$(st_domain s1 .last_run.outcome)" = ok
test "$(st_domain s1 .last_run.backup)" = "$newest"
test "$(st_domain s1 .last_run.failures)" -eq 0
test "$(stat -c %a "$R/s1/last-run.json")" = 600
# No drill, no copy yet.
test "$(st_domain s1 .last_drill)" = null
test "$(st_domain s1 .last_copy)" = null

# The newest drill and copy of the side records (copies.json is what
# issue 22's copy writes).
cat > "$R/s1/drills.json" <<JSON
{"version": 1, "drills": [
 {"backup": "$newest", "result": "failed", "method": "agent", "start": 1000, "seconds": 3},
 {"backup": "$newest", "result": "booted", "method": "agent", "start": 2000, "seconds": 4}]}
JSON
cat > "$R/s1/copies.json" <<JSON
{"version": 1, "copies": [
 {"backup": "$newest", "destination": "/mnt/b", "time": 3000, "outcome": "ok"},
 {"backup": "$newest", "destination": "/mnt/a", "time": 2000, "outcome": "failed", "message": "x"}]}
JSON
st_json
test "$(st_domain s1 '.last_drill | "\(.start) \(.result)"')" = "2000 booted"
test "$(st_domain s1 '.last_copy | "\(.time) \(.destination) \(.result)"')" = "3000 /mnt/b ok"
test "$(st_domain s1 .state)" = ok
# verify knows the records: no unknown file.
expect_exit 0 vckpt --json verify s1 --repo "$R"
jq -e '[.findings[] | select(.code == "file-unknown")] | length == 0' "$out"

# The table: a row per domain, a count line.
expect_exit 0 vckpt status --repo "$R"
assert_grep "^Repository $R:$" "$out"
assert_grep '^DOMAIN +STATE +LAST BACKUP +AGE +LEVEL +CHAIN +SIZE +LAST DRILL +LAST COPY +HOST$' "$out"
assert_grep "^s1 +ok +[0-9-]+ [0-9:]+ [-+][0-9]{4} +[0-9]+[sm].* +incremental +2 +[0-9.]+ [KMG]iB +1970-01-01 booted +1970-01-01 ok +$host\$" "$out"
assert_grep "^s2 +ok .* full +1 .* never +never +$host\$" "$out"
assert_grep '^2 domains in 1 repository: 2 ok, 0 stale, 0 failed, 0 unreadable$' "$out"
test ! -s "$err" || fail "messages on stderr when all is well"
# status never writes the repository (not even a lock file).
rm "$R/s2/lock"
find "$R" -printf '%p %s %T@\n' | sort > "$TMPD/before"
expect_exit 0 vckpt status --repo "$R"
find "$R" -printf '%p %s %T@\n' | sort | diff "$TMPD/before" -
