#!/usr/bin/env bash
# backup --all --jobs 2 runs two domains at once, never three: with readers
# holding the three repositories (so that every backup waits for them
# while it holds its domain's host lock), exactly two host locks are held
# at the same moment and the third domain waits; once the readers let go,
# all three complete.
. "${srcdir:-.}/fleet-functions.sh"
requires flock --version
fleet_setup ja jb jc
expect_exit 0 vckpt -q backup --all --full --repo "$R"
test -z "$(cat "$out")" || fail "-q printed something on success"
test "$(fleet_held_locks)" -eq 0

fleet_hold_readers ja jb jc
"$VCKPT" -v backup --all --auto --jobs 2 --repo "$R" > "$TMPD/o" 2> "$TMPD/e" &
pid=$!
cleanup_fn kill $pid
wait_for 30 "two backups holding their host locks" eval 'test "$(fleet_held_locks)" -eq 2'
kill -0 $pid || fail "backup --all ended while the readers held the repositories"
# Two children, both waiting for the readers; the third not started.
test "$(pgrep -c -P $pid)" -eq 2 || fail "$(pgrep -c -P $pid) children run, expected 2"
eval 'test "$(fleet_held_locks)" -eq 2'
test "$(grep -c 'waiting for readers' "$TMPD/e")" -le 2
fleet_release_readers
rc=0
wait $pid || rc=$?
cat "$TMPD/o" "$TMPD/e" >&2
test $rc -eq 0 || fail "backup --all --jobs 2 exited with $rc"
assert_grep '^3 domains: 3 backed up, 0 failed$' "$TMPD/o"
for d in ja jb jc; do
    assert_grep "^$d +ok +incremental " "$TMPD/o"
done
test "$(fleet_held_locks)" -eq 0
