#!/usr/bin/env bash
# vckpt hangs while the guest is frozen (held at the test hook): the guard
# thaws the guest after its timeout (VCKPT_QUIESCE_TIMEOUT).  Once vckpt
# goes on, its backup's point in time was not quiescent: with --quiesce it
# fails (exit 1) and is rolled back, nothing left behind.
. "${srcdir:-.}/quiesce-functions.sh"
set -e -x
quiesce_setup

VCKPT_QUIESCE_TIMEOUT=2 VCKPT_TEST_HOOK=quiesce-frozen \
    start_backup backup "$dom" --repo "$R" --full --quiesce --name k1
wait_stopped "$pid"
wait_thawed 60
wait_for 60 "the guard removing the freeze marker" test ! -e "$MARKER"
grep -q "vckpt did not thaw in time: the guard thawed the file systems of domain '$dom'" "$TMPD/e"
kill -CONT "$pid"
rc=0
wait "$pid" || rc=$?
cat "$TMPD/e" >&2
test "$rc" -eq 1
grep -q "not a quiesced backup" "$TMPD/e"
test "$(fsfreeze_status)" = thawed
test ! -e "$R/$dom/pending.xml"
test "$(checkpoints)" = ""
test -z "$(find "$R" -name '*.qcow2')"
