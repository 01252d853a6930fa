#!/usr/bin/env bash
# A shut-off domain with a qcow2 and a raw disk: the offline full backup's
# checkpoint leaves the raw disk out (no bitmap can live in it), and every
# offline incremental copies the raw disk whole and the qcow2 disk
# incrementally, in one run; restores are bit for bit.
. "${srcdir:-.}/offline-functions.sh"
set -e -x
offline_setup --disk 64M --raw-disk 32M

put vda 0x31 0 2M
put vdb 0x32 0 2M
off
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --full --name k0
test "$(virsh checkpoint-dumpxml "$dom" k0 | xmllint --xpath 'string(//disk[@name="vdb"]/@checkpoint)' -)" = no
snap 0
put vda 0x33 4M 1M
put vdb 0x34 1M 1M
off
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name k1
test "$(jq -r '.level, .since' "$out" | tr '\n' ' ')" = "incremental k0 "
test "$(jq -r '.preflight.whole | join(",")' "$out")" = vdb
snap 1
bitmap_sound vda k1
in_use_none
restored_ok k0 0
restored_ok k1 1
