#!/usr/bin/env bash
# A sound domain: repair exits 0 and says there is nothing to repair,
# changes nothing, and the incremental it leaves possible works.
. "${srcdir:-.}/repair-functions.sh"
rp_setup
rp_put 0x11 0 1M
rp_backup --full --name c1
rp_state "$TMPD/before"

expect_exit 0 vckpt repair "$dom" --repo "$R"
grep -q '^Nothing to repair in rp$' "$out"
assert_no_grep '^Next backup' "$out"
expect_exit 0 vckpt --json repair "$dom" --repo "$R"
jq -e '.steps == [] and .not_repaired == [] and .next_backup.full == false' "$out"
rp_state "$TMPD/after"
diff "$TMPD/before" "$TMPD/after"

rp_put 0x22 1M 1M
rp_backup --auto --name c2
jq -e '.level == "incremental" and .since == "c1"' "$out"
rp_restore_check
