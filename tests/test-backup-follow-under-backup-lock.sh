#!/usr/bin/env bash
# The checkpoint follow after a backup runs under the backup's own lock of
# the repository: a verify started between the commit and the follow is
# refused (exit 5, the repository is locked by the backup) instead of
# taking the repository as a reader and making the follow wait behind it
# for as long as it reads.  The backup, held at that point
# (VCKPT_TEST_HOOK=backup-committed), then ends with exit 0 and leaves two
# of vckpt's checkpoints.
. "${srcdir:-.}/prune-functions.sh"
pf_setup 16M
pf_put 0x61 0 2M
pf_backup 0 --full
pf_put 0x62 2M 1M
pf_backup 1 --incremental "$(jq -r .checkpoint "$out")"
pf_put 0x63 4M 1M
cp "$TMPD/model.qcow2" "$TMPD/m2.qcow2"

VCKPT_TEST_HOOK=backup-committed "$VCKPT" backup "$dom" --repo "$R" --auto \
    > "$TMPD/o" 2> "$TMPD/e" &
pid=$!
cleanup_fn kill -KILL "$pid"
# Whether the backup stopped itself at its hook; fails the test if it ended.
at_hook ()
{
    local s
    s=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) ||
        { cat "$TMPD/e" >&2; fail "backup ended before its hook"; }
    [ "$s" = T ]
}
wait_for 30 "the backup reaching its hook" at_hook

expect_exit 5 vckpt verify "$dom" --repo "$R"
grep -q "repository of domain '$dom' is locked by" "$err"
kill -CONT "$pid"
rc=0; wait "$pid" || rc=$?
cat "$TMPD/e" >&2
test "$rc" = 0
test "$(virsh -q checkpoint-list "$dom" --name | grep -c .)" = 2
expect_exit 0 vckpt verify "$dom" --repo "$R"
vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[-1].id' > "$TMPD/id2"
pf_restore_ok 1
pf_restore_ok 2
