#!/usr/bin/env bash
# A private restore directory whose lock is held (a restore, or its
# qemu-img, still runs) is never swept by another restore; one that is
# not ours (another owner or mode) is never touched either.
. "${srcdir:-.}/restore-functions.sh"
rf_setup
mkdir -p "$TMPD/to/.vckpt-restore-busy1" "$TMPD/to/.vckpt-restore-open22"
chmod 700 "$TMPD/to/.vckpt-restore-busy1"
chmod 755 "$TMPD/to/.vckpt-restore-open22"
echo data > "$TMPD/to/.vckpt-restore-busy1/img"
echo data > "$TMPD/to/.vckpt-restore-open22/img"

# Hold the lock the way a running restore does, until told to stop.
mkfifo "$TMPD/go"
flock "$TMPD/to/.vckpt-restore-busy1" cat "$TMPD/go" &
holder=$!
cleanup_fn kill "$holder"
wait_for 30 "the lock to be held" \
    sh -c "! flock -n '$TMPD/to/.vckpt-restore-busy1' true"

expect_exit 0 vckpt restore "$dom" --repo "$R" --to "$TMPD/to" --at c1
test -f "$TMPD/to/.vckpt-restore-busy1/img" || fail "a busy restore directory was swept"
test -f "$TMPD/to/.vckpt-restore-open22/img" || fail "a directory that is not private was swept"
assert_no_grep 'killed restore' "$err"
lab_compare_images "$TMPD/to/vda.qcow2" "$TMPD/m1-vda.qcow2"

# Released: the next restore removes it (but still not the open one).
echo > "$TMPD/go"
wait "$holder"
rm "$TMPD/to/vda.qcow2"
expect_exit 0 vckpt restore "$dom" --repo "$R" --to "$TMPD/to" --at c2
test ! -e "$TMPD/to/.vckpt-restore-busy1" || fail "the released directory was not swept"
test -f "$TMPD/to/.vckpt-restore-open22/img" || fail "a directory that is not private was swept"
lab_compare_images "$TMPD/to/vda.qcow2" "$TMPD/m2-vda.qcow2"
