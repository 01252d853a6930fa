#!/usr/bin/env bash
# overlay create and commit run root's qemu-img on names in the images'
# directories: one another user owns or may write (while that user plants
# links to a root-only file in a loop) is refused before anything is
# made: exit 2, no new image, the root-only file unchanged.  The same
# images in a root-owned directory work.
. "${srcdir:-.}/functions.sh"
set -e -x
requires_root
requires setpriv --version
requires qemu-img --version
O=$TMPD/others
mkdir "$O"
chown nobody "$O"
echo precious >"$TMPD/victim"
chmod 0600 "$TMPD/victim"
qemu-img create -q -f qcow2 "$O/base.qcow2" 1M
qemu-img bitmap --add "$O/base.qcow2" b1
qemu-img create -q -f qcow2 -F qcow2 -b base.qcow2 "$O/top.qcow2" 1M
qemu-img bitmap --add "$O/top.qcow2" b1
# nobody plants links under every name vckpt might create there.
setpriv --reuid=nobody --regid=nogroup --clear-groups bash -c '
    while :; do
        for n in new.qcow2 .vckpt-new.qcow2 .new.qcow2.tmp; do
            ln -sf "$2" "$1/$n" 2>/dev/null
        done
    done' plant "$O" "$TMPD/victim" &
cleanup_fn kill $!
expect_exit 2 vckpt overlay create --image "$O/base.qcow2" "$O/new.qcow2"
assert_grep "overlay directory .*$O is owned by another user" "$err"
test "$(cat "$TMPD/victim")" = precious
if [ -f "$O/new.qcow2" ] && [ ! -L "$O/new.qcow2" ]; then fail "an overlay was made"; fi
expect_exit 2 vckpt commit --image "$O/top.qcow2"
assert_grep "commit's top image directory .*$O is owned by another user" "$err"
test "$(cat "$TMPD/victim")" = precious

# A root-owned directory: the same overlay works and carries the bitmap.
mkdir "$TMPD/mine"
cp "$O/base.qcow2" "$TMPD/mine/base.qcow2"
expect_exit 0 vckpt overlay create --image "$TMPD/mine/base.qcow2" "$TMPD/mine/new.qcow2"
qemu-img info --output=json "$TMPD/mine/new.qcow2" |
    jq -e '[.["format-specific"].data.bitmaps[].name] == ["b1"]'
