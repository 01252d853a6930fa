#!/usr/bin/env bash
# verify takes the repository lock shared: a backup started while a reader
# holds it waits for it instead of failing, and then succeeds.
. "${srcdir:-.}/restore-functions.sh"
requires flock --version
rf_setup

# A reader holding the lock shared, as verify does, until $TMPD/hold goes.
touch "$TMPD/hold"
flock -s "$R/$dom/lock" sh -c "while [ -e '$TMPD/hold' ]; do sleep 0.1; done" &
reader=$!
cleanup_fn rm -f "$TMPD/hold"
# Whether the reader holds the lock; fails the test if it ended.
reader_holds_lock ()
{
    if ! flock -n -x "$R/$dom/lock" true; then return 0; fi
    kill -0 $reader 2>/dev/null || fail "the reader ended before it took the lock"
    return 1
}
wait_for 60 "the reader taking the lock" reader_holds_lock
lab_write "$dom" vda 0x44 2M 1M
"$VCKPT" -v backup "$dom" --auto --name c3 --repo "$R" >"$TMPD/b.out" 2>"$TMPD/b.err" &
backup=$!
# Whether the backup waits for the reader; fails the test if it ended.
backup_waits ()
{
    grep -q 'waiting for readers' "$TMPD/b.err" && return 0
    kill -0 $backup 2>/dev/null ||
        { cat "$TMPD/b.err" >&2; fail "the backup ended while a reader held the lock"; }
    return 1
}
wait_for 60 "the backup waiting for readers" backup_waits
cat "$TMPD/b.err" >&2
kill -0 $backup || fail "the backup ended while a reader held the lock"
grep -q 'waiting for readers' "$TMPD/b.err"
rm "$TMPD/hold"
wait $reader
rc=0
wait $backup || rc=$?
cat "$TMPD/b.err" >&2
test $rc -eq 0 || fail "the backup failed ($rc) after the reader let go"
test "$(rf_id 2)" != null
