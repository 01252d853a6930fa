#!/usr/bin/env bash
# Under umask 022 every file of a backup repository and every restored image
# is 0600 and every directory vckpt creates 0711 (QEMU's own user passes
# through to what libvirt hands it, no other user lists anything): they
# hold guest disks.
. "${srcdir:-.}/restore-functions.sh"
umask 022
rf_setup

bad=$(find "$R" -mindepth 1 \( -type f ! -perm 0600 \) -o \( -type d ! -perm 0711 \))
if [ -n "$bad" ]; then
    ls -laR "$R" >&2
    fail "wrong modes in the repository: $bad"
fi
test "$(stat -c %a "$R")" = 711
mkdir "$TMPD/to"
expect_exit 0 vckpt restore "$dom" --repo "$R" --to "$TMPD/to"
test "$(stat -c %a "$TMPD/to/vda.qcow2")" = 600
expect_exit 0 vckpt restore "$dom" --repo "$R" --at c1 --to "$TMPD/to" --define rf-copy
test "$(stat -c %a "$TMPD/to/rf-copy-vda.qcow2")" = 600
