#!/usr/bin/env bash
# Two real runs at once: the second exits at once with the busy code (5),
# naming the first, and creates no checkpoint; the first completes
# undisturbed.
. "${srcdir:-.}/faults-functions.sh"
set -e -x
faults_setup
faults_fill --no-model

start_backup backup "$dom" --repo "$R" --full --name c1
wait_job
# Hold the first run where it is (its job goes on in QEMU) so the second
# surely meets it, however slow its start (valgrind).
kill -STOP $pid
cleanup_fn kill -CONT $pid
expect_exit 5 vckpt backup "$dom" --repo "$R" --auto --name c2
grep -q "locked by pid $pid " "$err"
kill -CONT $pid
rc=0; wait $pid || rc=$?
test $rc -eq 0 || { cat "$TMPD/e"; fail "the first run failed: exit $rc"; }
test "$(nbackups)" -eq 1
test "$(checkpoints)" = "c1 "
no_checkpoint c2
