#!/usr/bin/env bash
# A restore killed with SIGKILL cannot clean up: its private directory
# stays in --to.  Once nothing uses it any more (its qemu-img ended too),
# the next restore into the same --to removes it, says so, and restores
# bit-exact.
. "${srcdir:-.}/restore-functions.sh"
rf_setup_big
mkdir "$TMPD/to"
"$VCKPT" restore "$dom" --repo "$R" --to "$TMPD/to" >/dev/null 2>"$TMPD/r.err" &
pid=$!
# Whether restore ($pid) runs its qemu-img child (its pid in $qpid); fails the
# test if restore ended.
qemu_img_runs ()
{
    qpid=$(pgrep -P "$pid" qemu-img) && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$TMPD/r.err" >&2; fail "restore ended before it ran qemu-img"; }
    return 1
}
wait_for 60 "restore running qemu-img" qemu_img_runs
kill -KILL "$pid"
wait "$pid" || true
# The orphaned qemu-img holds the directory's lock until it ends.
kill -TERM "$qpid" 2>/dev/null || true
wait_for 60 "qemu-img $qpid to end" sh -c "! kill -0 $qpid 2>/dev/null"
left=$(ls -A "$TMPD/to")
case "$left" in
    .vckpt-restore-*) ;;
    *) fail "expected the killed restore's directory in --to, found: '$left'" ;;
esac

expect_exit 0 vckpt restore "$dom" --repo "$R" --to "$TMPD/to"
assert_grep "removed $TMPD/to/$left, which a killed restore left" "$err"
test ! -e "$TMPD/to/$left" || fail "$left is still there"
rf_no_leftovers "$TMPD/to"
lab_compare_images "$TMPD/to/vda.qcow2" "$TMPD/m1-vda.qcow2" ||
    fail "the restored image differs from what was written"
