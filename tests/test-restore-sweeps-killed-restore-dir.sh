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
qpid=
for (( i = 0; i < 1200; i++ )); do
    qpid=$(pgrep -P "$pid" qemu-img || true)
    [ -n "$qpid" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
[ -n "$qpid" ] || fail "restore never ran qemu-img (or ended first)"
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
