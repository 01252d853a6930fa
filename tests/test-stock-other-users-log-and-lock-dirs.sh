#!/usr/bin/env bash
# The directories of --log-file and of the host-wide locks
# (VCKPT_LOCK_DIR) are reached only through directories no other user can
# change: one another user owns or may write (non-sticky), anywhere on the
# way, is refused before anything is written (--log-file: exit 2; the lock
# directory: the backup fails, exit 1), and a link in a directory another
# user owns is never followed.  A log file in a root-owned sticky
# directory, or below a link root made, is fine.
. "${srcdir:-.}/stock-functions.sh"
set -e -x
requires setpriv --version
O=$TMPD/others
mkdir "$O"
chown nobody "$O"
W=$TMPD/world
mkdir -m 0777 "$W"
echo precious >"$TMPD/victim"
mkdir "$TMPD/real"

for d in "$O" "$W"; do
    expect_exit 2 vckpt --log-file "$d/vckpt.log" help
    assert_grep "log-file $d: $d is (owned by another user|writable by other users)" "$err"
    test ! -e "$d/vckpt.log"
    test -z "$(cat "$out")"
done
# nobody's link to a root-owned directory, in nobody's directory.
setpriv --reuid=nobody --regid=nogroup --clear-groups ln -s "$TMPD/real" "$O/link"
expect_exit 2 vckpt --log-file "$O/link/vckpt.log" help
test -z "$(ls -A "$TMPD/real")"
# Below a sticky root directory, and through a link root made: fine.
mkdir -m 1777 "$TMPD/sticky"
expect_exit 0 vckpt --log-file "$TMPD/sticky/vckpt.log" help
assert_grep 'end: exit status 0$' "$TMPD/sticky/vckpt.log"
ln -s "$TMPD/real" "$TMPD/rootlink"
expect_exit 0 vckpt --log-file "$TMPD/rootlink/vckpt.log" help
test -f "$TMPD/real/vckpt.log"

# The lock directory under a directory nobody owns: the backup refuses.
stock_setup
lab_domain_start "$dom"
mkdir "$O/locks"
VCKPT_LOCK_DIR=$O/locks expect_exit 2 vckpt backup "$dom" --repo "$R" --full --name k0
assert_grep "lock directory $O: $O is owned by another user" "$err"
test -z "$(virsh -q checkpoint-list "$dom" --name)"
VCKPT_LOCK_DIR=$TMPD/locks expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name k0
test "$(stat -c %a "$TMPD/locks")" = 700
