#!/usr/bin/env bash
# A backup attempt that failed after the newest backup makes its domain
# "failed": status exits 4 and shows the attempt's exit status and error
# (REPO/DOMAIN/last-run.json, written by backup); the count of failed
# attempts in a row grows, and a good backup clears it.  A first backup
# refused once its domain directory exists is recorded too; one refused
# before (no directory) is not.
. "${srcdir:-.}/status-functions.sh"
st_setup f1 f2
expect_exit 0 vckpt backup f1 --full --repo "$R"
expect_exit 0 vckpt backup f2 --full --repo "$R"
expect_exit 0 vckpt status --repo "$R"

# A backup refused: an incremental from a checkpoint nothing has.
expect_exit 4 vckpt backup f1 --incremental nosuch --repo "$R"
msg=$(sed -n 's/^vckpt: backup f1: //p' "$err" | head -n 1)
test -n "$msg"
test "$(stat -c %a "$R/f1/last-run.json")" = 600
want=4 st_json
jq -e '.ok == false and .counts.failed == 1 and .counts.ok == 1' "$out"
test "$(st_domain f1 .state)" = failed
test "$(st_domain f1 .last_run_failed)" = true
test "$(st_domain f1 .last_run.exit)" -eq 4
# The error, and the preflight's finding that refused it.
test "$(st_domain f1 .last_run.message)" = \
     "$msg; previous-backup-missing: the repository has no complete backup that ended at checkpoint 'nosuch'"
test "$(st_domain f1 .last_run.failures)" -eq 1
test "$(st_domain f1 .last_run.backup)" = null
test "$(st_domain f1 .last_run.uri)" = "$LAB_URI"
test "$(st_domain f2 .state)" = ok
assert_grep '^vckpt: status f1: the last backup attempt failed, at .* \(exit status 4\)$' "$err"
assert_grep "^vckpt: warning: status f1: its error: .*previous-backup-missing" "$err"
assert_no_grep 'status f2' "$err"

expect_exit 4 vckpt backup f1 --incremental nosuch --repo "$R"
expect_exit 4 vckpt status --repo "$R"
assert_grep '^f1 +FAILED ' "$out"
assert_grep "^    last attempt: .*, failed \(exit status 4\): .*previous-backup-missing" "$out"
assert_grep '\(exit status 4; 2 failed attempts in a row\)$' "$err"

# A good backup clears it.
expect_exit 0 vckpt backup f1 --auto --repo "$R"
want=0 st_json
test "$(st_domain f1 .state)" = ok
test "$(st_domain f1 .last_run.failures)" -eq 0

# A dry run records nothing.
cp "$R/f1/last-run.json" "$TMPD/lr"
expect_exit 4 vckpt backup f1 --incremental nosuch --dry-run --repo "$R"
cmp "$R/f1/last-run.json" "$TMPD/lr"

# The first backup of f2 into another repository, refused by its
# preflight once REPO/f2 exists: recorded, no backup, failed (and stale).
R2=$TMPD/repo2
mkdir -m 0711 "$R2"
expect_exit 3 vckpt backup f2 --full --disk vdz --repo "$R2"
test -f "$R2/f2/last-run.json" || {
    ls -la "$R2" "$R2/f2" >&2 || true
    fail "the refused first backup left no record"
}
expect_exit 4 vckpt --json status --repo "$R2"
test "$(jq -r '.repositories[0].domains[0] | "\(.domain) \(.state) \(.stale) \(.last_backup)"' "$out")" = \
     "f2 failed true null"

# A first backup that fails before its directory exists: nothing recorded.
R3=$TMPD/repo3
mkdir -m 0711 "$R3"
echo 'not a directory' > "$R3/f2"
expect_exit 1 vckpt backup f2 --full --repo "$R3"
expect_exit 0 vckpt --json status --repo "$R3"
jq -e '.counts.domains == 0' "$out"
