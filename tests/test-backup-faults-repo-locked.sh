#!/usr/bin/env bash
# A backup while another process holds the repository lock: busy, exit 5,
# at once, and no checkpoint is created.
. "${srcdir:-.}/faults-functions.sh"
requires flock --version
set -e -x
faults_setup
put vda 0x31 0 1M
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name a1

# A holder that keeps the lock until $TMPD/hold goes (-o: only flock
# holds it, not the command).
touch "$TMPD/hold"
cleanup_fn rm -f "$TMPD/hold"
flock -o "$R/$dom/lock" sh -c "while [ -e '$TMPD/hold' ]; do sleep 0.05; done" & holder=$!
lock_taken() { if flock -n "$R/$dom/lock" true; then return 1; fi; }
wait_for 30 "the holder taking the lock" lock_taken

expect_exit 5 vckpt backup "$dom" --repo "$R" --auto
grep -q "locked" "$err"
test "$(checkpoints)" = "a1 "
test "$(nbackups)" -eq 1
rm "$TMPD/hold"
wait $holder
