#!/usr/bin/env bash
# backup --all -q prints nothing on standard output when every domain
# succeeded (cron mails nothing), and the whole summary when one failed.
. "${srcdir:-.}/fleet-functions.sh"
fleet_setup ka kb
expect_exit 0 vckpt -q backup --all --auto --repo "$R"
test ! -s "$out" || fail "-q printed on success: $(cat "$out")"
test ! -s "$err" || fail "-q wrote on stderr on success: $(cat "$err")"
# Without -q, the summary.
expect_exit 0 vckpt backup --all --auto --repo "$R"
assert_grep '^2 domains: 2 backed up, 0 failed$' "$out"

mv "$R/kb" "$TMPD/kb"
echo 'not a directory' > "$R/kb"
expect_exit 1 vckpt -q backup --all --auto --repo "$R"
assert_grep '^ka +ok +incremental ' "$out"
assert_grep '^kb +failed ' "$out"
assert_grep '^2 domains: 1 backed up, 1 failed$' "$out"
