#!/usr/bin/env bash
# vckpt killed (SIGKILL) while the guest is frozen: its thaw guard sees
# vckpt gone and thaws the guest at once (its timeout is set far beyond
# the bound polled here, so only the guard's end-of-file thaw can pass),
# and removes the freeze marker; the next backup rolls the killed one
# back (journal, partial files) and succeeds.
. "${srcdir:-.}/quiesce-functions.sh"
set -e -x
quiesce_setup

VCKPT_QUIESCE_TIMEOUT=3600 VCKPT_TEST_HOOK=quiesce-frozen \
    start_backup backup "$dom" --repo "$R" --full --quiesce --name k1
wait_stopped "$pid"
test "$(fsfreeze_status)" = frozen
test -f "$MARKER"
test -f "$R/$dom/pending.xml"
kill -KILL "$pid"
rc=0
wait "$pid" || rc=$?
test "$rc" -eq 137
wait_thawed 60
wait_for 60 "the guard removing the freeze marker" test ! -e "$MARKER"

expect_exit 0 vckpt --json backup "$dom" --repo "$R" --full --quiesce --name k2
grep -q "cleaned up after interrupted backup" "$err"
test ! -e "$R/$dom/pending.xml"
test "$(checkpoints)" = "k2 "
expect_exit 0 vckpt --json list-backups "$dom" --repo "$R"
test "$(jq -r '[.backups[].checkpoint] | join(",")' "$out")" = k2
test "$(fsfreeze_status)" = thawed
expect_exit 0 vckpt verify "$dom" --repo "$R"
