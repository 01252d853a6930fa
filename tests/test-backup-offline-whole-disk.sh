#!/usr/bin/env bash
# An offline incremental backup copies a disk the previous backup lacks
# whole (sync=full) and the others incrementally, in the same run: the
# restore is bit for bit, and the new checkpoint tracks both disks.
. "${srcdir:-.}/offline-functions.sh"
set -e -x
offline_setup

put vda 0x21 0 2M
put vdb 0x22 0 2M
off
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --full --disk vda --name k0
put vda 0x23 4M 1M
put vdb 0x24 1M 1M
off
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --incremental k0 --name k1
test "$(jq -r '.level, .since' "$out" | tr '\n' ' ')" = "incremental k0 "
test "$(jq -r '.preflight.whole | join(",")' "$out")" = vdb
snap 1
restored_ok k1 1
# vdb's file stands alone (no backing file); vda's stacks on k0's.
f=$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[1].disks[] | select(.file | endswith(".vdb.qcow2")) | .file')
qemu-img info --output=json "$R/$dom/$f" | jq -e '."backing-filename" == null'
bitmap_sound vda k1
bitmap_sound vdb k1
no_bitmap vdb k0
in_use_none
