#!/usr/bin/env bash
# SIGTERM while restore flattens a zstd-compressed chain itself (no
# qemu-img runs: lib/flatten.c), stopped at its test hook after the first
# 512 MiB range was written: exit 6, nothing left in --to (no image, no
# temporary directory); the next restore gives the disk back bit for bit.
. "${srcdir:-.}/restore-functions.sh"
export VCKPT_LOCK_DIR=$TMPD/run

lab_start
lab_domain_define "$dom" --disk 1G
lab_domain_start "$dom"
qemu-img create -q -f qcow2 "$TMPD/m1-vda.qcow2" 1G
lab_write "$dom" vda 0x51 0 4M
lab_write "$dom" vda 0x52 600M 4M
qemu-io -f qcow2 -c "write -P 0x51 0 4M" -c "write -P 0x52 600M 4M" \
        "$TMPD/m1-vda.qcow2" >/dev/null
vckpt -q backup "$dom" --full --compress --name c1 --repo "$R"

mkdir "$TMPD/to"
VCKPT_TEST_HOOK=restore-flattened-range "$VCKPT" restore "$dom" --repo "$R" --to "$TMPD/to" \
    >"$TMPD/o" 2>"$TMPD/e" &
pid=$!
wait_stopped "$pid"
if pgrep -P "$pid" qemu-img; then
    fail "restore runs qemu-img on a compressed chain"
fi
kill -TERM "$pid"
kill -CONT "$pid"
rc=0
wait "$pid" || rc=$?
cat "$TMPD/e" >&2
test "$rc" -eq 6 || fail "restore interrupted by TERM exited with $rc, expected 6"
grep -q 'interrupted by signal' "$TMPD/e"
test -z "$(ls -A "$TMPD/to")" || fail "left in $TMPD/to: $(ls -A "$TMPD/to")"

expect_exit 0 vckpt restore "$dom" --repo "$R" --to "$TMPD/to"
qemu-img compare -q "$TMPD/m1-vda.qcow2" "$TMPD/to/vda.qcow2" ||
    fail "the restore after the interrupted one differs from what was written"
