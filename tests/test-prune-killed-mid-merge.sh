#!/usr/bin/env bash
# vckpt killed (SIGKILL) in the middle of a merge, after the first new
# file was written and before the manifest: every backup still restores
# bit for bit, and the next prune rolls the merge back (the new file goes)
# and does it again; afterwards every kept point restores and verify
# passes.
. "${srcdir:-.}/prune-functions.sh"
pf_setup 16M
pf_put 0x31 0 4M
pf_backup 0 --full
pf_put 0x32 1M 2M
pf_backup 1 --auto
pf_put 0x33 3M 2M
pf_backup 2 --auto
pf_put 0x34 0 512K
pf_backup 3 --auto

# --keep-last 2: the full and the first incremental expire; point 2
# becomes the chain's full (a new file), point 3 is rewritten over it.
rc=0
VCKPT_TEST_HOOK=merge-rewritten:kill "$VCKPT" prune "$dom" --repo "$R" --keep-last 2 \
    > "$TMPD/k.out" 2> "$TMPD/k.err" || rc=$?
cat "$TMPD/k.err" >&2
test "$rc" -eq 137 || fail "prune was not killed at the hook (exit $rc)"
test -e "$R/$dom/pending.xml" || fail "no journal left by the killed merge"
grep -q 'kind="merge"' "$R/$dom/pending.xml"
ls "$R/$dom"/*/*-r1.vda.qcow2 || fail "the killed merge wrote no new file"

# Every backup restores as it was: the manifest was not changed.
test "$(pf_ids | wc -l)" -eq 4
for n in 0 1 2 3; do
    pf_restore_ok "$n"
done

# The next run rolls the merge back, then prunes.
expect_exit 0 pf_vckpt prune "$dom" --repo "$R" --keep-last 2
grep -q 'rolling back the interrupted merge' "$err"
test ! -e "$R/$dom/pending.xml"
test "$(pf_ids)" = "$(cat "$TMPD/id2" "$TMPD/id3")"
for n in 2 3; do
    pf_restore_ok "$n"
done
expect_exit 0 pf_vckpt --json verify "$dom" --repo "$R"
jq -e '.findings | length == 0' "$out" || fail "verify found problems after the prune"
