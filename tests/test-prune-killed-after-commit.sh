#!/usr/bin/env bash
# vckpt killed (SIGKILL) right after a merge committed its manifest,
# before the old files went: the kept points restore bit for bit at once,
# and the next run that opens the repository (a prune) finishes the
# merge: the expired points' files go, verify passes.
. "${srcdir:-.}/prune-functions.sh"
pf_setup 16M
pf_put 0x41 0 4M
pf_backup 0 --full
pf_put 0x42 1M 2M
pf_backup 1 --auto
pf_put 0x43 3M 2M
pf_backup 2 --auto

old1=$(jq -r '.backups[1].disks[0].file' <(vckpt --json list-backups "$dom" --repo "$R"))
rc=0
VCKPT_TEST_HOOK=merge-committed:kill "$VCKPT" prune "$dom" --repo "$R" --keep-last 1 \
    > "$TMPD/k.out" 2> "$TMPD/k.err" || rc=$?
cat "$TMPD/k.err" >&2
test "$rc" -eq 137 || fail "prune was not killed at the hook (exit $rc)"
test -e "$R/$dom/pending.xml" || fail "no journal left by the killed merge"
test -e "$R/$dom/$old1" || fail "the old files went before the kill"

# Committed: the manifest holds the kept point alone, and it restores.
test "$(pf_ids)" = "$(cat "$TMPD/id2")"
pf_restore_ok 2

# The next run finishes the merge: the old files go.
expect_exit 0 pf_vckpt prune "$dom" --repo "$R" --keep-last 1
grep -q 'finishing the merge interrupted after its commit' "$err"
test ! -e "$R/$dom/pending.xml"
test ! -e "$R/$dom/$old1" || fail "the expired point's file is still there"
pf_restore_ok 2
expect_exit 0 pf_vckpt --json verify "$dom" --repo "$R"
jq -e '.findings | length == 0' "$out" || fail "verify found problems after the prune"
