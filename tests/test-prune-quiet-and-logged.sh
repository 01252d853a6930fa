#!/usr/bin/env bash
# prune from cron: -q prints nothing on success, and --log-file gets a
# line per expired backup and one with the totals.
. "${srcdir:-.}/prune-functions.sh"
pf_setup 16M
pf_put 0x31 0 1M
pf_backup 0 --full
pf_put 0x32 1M 1M
pf_backup 1 --auto
pf_put 0x33 2M 1M
pf_backup 2 --auto
expect_exit 0 vckpt -q --log-file "$TMPD/log" prune "$dom" --repo "$R" --keep-last 1
test ! -s "$out" || fail "prune -q printed: $(cat "$out")"
assert_grep "prune $dom: backup $(cat "$TMPD/id0") expired, merged into $(cat "$TMPD/id2")" "$TMPD/log"
assert_grep "prune $dom: backup $(cat "$TMPD/id1") expired" "$TMPD/log"
assert_grep "prune $dom: 1 kept, 2 expired, [0-9]+ bytes written" "$TMPD/log"
pf_restore_ok 2
