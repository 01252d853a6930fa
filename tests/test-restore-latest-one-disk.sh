#!/usr/bin/env bash
# restore --latest (the default) restores the newest point; --disk picks
# the disks: only that disk's image is written.
. "${srcdir:-.}/backup-functions.sh"
bf_setup

mkdir "$TMPD/rl"
expect_exit 0 vckpt restore "$dom" --repo "$R" --latest --disk vdb --to "$TMPD/rl"
test "$(ls "$TMPD/rl")" = vdb.qcow2
qemu-img compare -q "$TMPD/m4-vdb.qcow2" "$TMPD/rl/vdb.qcow2"
