#!/usr/bin/env bash
# A stop signal in the middle of a copy (SIGTERM while a file is half
# written, SIGINT once a point is converted) rolls it back at once: exit
# status 6, the copy holds what it held before and no journal; the next
# copy does the work.
. "${srcdir:-.}/copy-functions.sh"
bf_setup
cf_copy
cf_state > "$TMPD/before"
bf_put vda 0x15 12M 1M
bf_backup 5 --auto

hold_at copy-writing "$VCKPT" copy "$dom" --repo "$R" --to "$D"
release TERM
test "$rc" = 6 || fail "exit status $rc, not 6"
assert_grep "interrupted by signal 15" "$TMPD/e"
cf_state > "$TMPD/after"
cmp "$TMPD/before" "$TMPD/after" || fail "the interrupted copy changed the copy"
test ! -e "$D/$dom/pending.xml"
cf_verify_ok

expect_exit 0 vckpt prune "$dom" --repo "$D" --keep-last 1
bf_put vda 0x16 16M 2M
bf_backup 6 --differential
cf_state > "$TMPD/before"
hold_at copy-converted "$VCKPT" copy "$dom" --repo "$R" --to "$D"
release INT
test "$rc" = 6 || fail "exit status $rc, not 6"
cf_state > "$TMPD/after"
cmp "$TMPD/before" "$TMPD/after" || fail "the interrupted copy changed the copy"
test ! -e "$D/$dom/pending.xml"
cf_verify_ok
cf_copy
test "$(jq -r '.copied' "$out")" = 2
cf_restores_ok
