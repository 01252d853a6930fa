#!/usr/bin/env bash
# Offline and online backups mixed in one chain: offline full, start,
# online incremental, stop, offline incremental, start, online incremental,
# stop, offline --auto.  Data is written between the points while the
# domain runs (the only writes bitmaps can see); every point restores bit
# for bit, and validate is clean at the end.
. "${srcdir:-.}/offline-functions.sh"
set -e -x
offline_setup
backup() { expect_exit 0 vckpt --json backup "$dom" --repo "$R" "$@"; }

put vda 0x01 0 2M
put vdb 0x02 0 1M
off
backup --full --name p0                      # offline
snap 0

put vda 0x03 1M 2M                           # starts the domain
backup --incremental p0 --name p1            # online
test "$(lab_domain_state "$dom")" = running
snap 1

put vdb 0x04 4M 1M
off
backup --incremental p1 --name p2            # offline
snap 2

put vda 0x05 8M 64K
put vda 0x06 0 4K
backup --incremental p2 --name p3            # online
snap 3

put vdb 0x07 0 8K
off
backup --auto --name p4                      # offline
test "$(jq -r '.level, .since' "$out" | tr '\n' ' ')" = "incremental p3 "
snap 4

# Checkpoints follow the repository: the chain's full and the newest.
test "$(checkpoints)" = "p0 p4 "
in_use_none
for i in 0 1 2 3 4; do restored_ok "p$i" "$i"; done
expect_exit 1 qemu-img compare -q "$TMPD/m3-vdb.qcow2" "$TMPD/m4-vdb.qcow2"
expect_exit 0 vckpt --json validate "$dom" --repo "$R"
jq -e '.findings | map(select(.severity != "info")) | length == 0' "$out"
expect_exit 0 vckpt verify "$dom" --repo "$R"
