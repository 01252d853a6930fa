#!/usr/bin/env bash
# SIGTERM while the guest is frozen (vckpt held at the test hook just
# after the freeze): vckpt thaws before it exits, exits 6 (interrupted,
# rolled back), and leaves no checkpoint, journal, backup or marker.
. "${srcdir:-.}/quiesce-functions.sh"
set -e -x
quiesce_setup

VCKPT_QUIESCE_TIMEOUT=3600 VCKPT_TEST_HOOK=quiesce-frozen \
    start_backup backup "$dom" --repo "$R" --full --quiesce --name k1
wait_stopped "$pid"
test "$(fsfreeze_status)" = frozen
kill -TERM "$pid"
kill -CONT "$pid"
rc=0
wait "$pid" || rc=$?
cat "$TMPD/e" >&2
test "$rc" -eq 6
grep -q "interrupted by signal 15" "$TMPD/e"
# vckpt itself thawed before it exited: no wait for the guard.
test "$(fsfreeze_status)" = thawed
test ! -e "$MARKER"
test ! -e "$R/$dom/pending.xml"
test "$(checkpoints)" = ""
if [ -e "$R/$dom/manifest.xml" ]; then
    expect_exit 0 vckpt --json list-backups "$dom" --repo "$R"
    test "$(jq '.backups | length' "$out")" -eq 0
fi
test -z "$(find "$R" -name '*.qcow2')"
