#!/usr/bin/env bash
# SIGTERM while prune's qemu-img makes a kept point standalone (512 MiB
# to copy): the qemu-img child is ended, the merge rolled back (exit 6,
# no journal, no new file), every backup restores as before and verify
# passes; the next prune does it.
. "${srcdir:-.}/prune-functions.sh"
pf_setup 1G
pf_put 0x51 0 256M
pf_put 0x52 256M 256M
pf_backup 0 --full
pf_put 0x53 1M 1M
pf_backup 1 --auto

run=("$VCKPT")
if [ -n "${VCKPT_VALGRIND:-}" ]; then
    run=(valgrind --error-exitcode=119 --leak-check=full --errors-for-leak-kinds=definite
         --quiet "$VCKPT")
fi
"${run[@]}" prune "$dom" --repo "$R" --keep-last 1 > "$TMPD/p.out" 2> "$TMPD/p.err" &
pid=$!
# Whether prune ($pid) runs its qemu-img child (its pid in $qpid); fails the
# test if prune ended.
qemu_img_runs ()
{
    qpid=$(pgrep -P "$pid" qemu-img) && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$TMPD/p.err" >&2; fail "prune ended before it ran qemu-img"; }
    return 1
}
wait_for 60 "prune running qemu-img" qemu_img_runs
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
cat "$TMPD/p.err" >&2
test "$rc" -eq 6 || fail "prune interrupted by SIGTERM exited with $rc, expected 6"
grep -q 'interrupted' "$TMPD/p.err"
if kill -0 "$qpid" 2>/dev/null && [ "$(ps -o comm= -p "$qpid")" = qemu-img ]; then
    fail "qemu-img ($qpid) still runs after prune was interrupted"
fi
test ! -e "$R/$dom/pending.xml" || fail "the journal is left"
if ls "$R/$dom"/*/*-r[0-9]*.qcow2 2>/dev/null; then
    fail "a new file of the interrupted merge is left"
fi
test "$(pf_ids | wc -l)" -eq 2
pf_restore_ok 1
expect_exit 0 pf_vckpt --json verify "$dom" --repo "$R"
jq -e '.findings | length == 0' "$out" || fail "verify found problems after the rollback"

expect_exit 0 pf_vckpt prune "$dom" --repo "$R" --keep-last 1
test "$(pf_ids)" = "$(cat "$TMPD/id1")"
pf_restore_ok 1
