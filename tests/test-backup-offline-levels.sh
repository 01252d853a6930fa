#!/usr/bin/env bash
# Backups of a shut-off domain at every level: full, incremental, auto,
# differential, auto with nothing new; each restores bit for bit what had
# been written by then, each checkpoint is in libvirt with its bitmap in
# the top image of each disk (recording, stored cleanly), validate is clean
# afterwards, and verify passes.
. "${srcdir:-.}/offline-functions.sh"
set -e -x
offline_setup
backup() { expect_exit 0 vckpt --json backup "$dom" --repo "$R" "$@"; }

put vda 0x10 0 1M
put vdb 0x20 0 1M
off
backup --full --name k0
test "$(jq -r '.level, .checkpoint, .since' "$out" | tr '\n' ' ')" = "full k0 null "
test "$(lab_domain_state "$dom")" = "shut off"
snap 0

put vda 0x11 2M 1M
off
backup --incremental k0 --name k1
test "$(jq -r '.level, .since' "$out" | tr '\n' ' ')" = "incremental k0 "
# Only the changed 1 MiB was copied (the bitmap was used).
jq -e '.bytes >= 1048576 and .bytes < 4194304' "$out"
# Nothing on stderr: no libvirt call that needs a running domain.
if [ -s "$err" ]; then cat "$err"; fail "the offline incremental backup printed messages"; fi
snap 1

put vda 0x12 4M 1M
put vda 0x13 0 512K
put vdb 0x21 8M 3M
put vda zero 2M 512K         # zeros over k1's data: k1's must not show through
off
backup --auto --name k2
test "$(jq -r '.level, .since, .auto_reason' "$out" | tr '\n' ' ')" = "incremental k1 null "
snap 2

put vda 0x14 8M 1M
off
backup --differential --name k3
test "$(jq -r '.level, .since' "$out" | tr '\n' ' ')" = "differential k0 "
snap 3

backup --auto --name k4
test "$(jq -r '.level, .since' "$out" | tr '\n' ' ')" = "incremental k3 "
snap 4

# A dry run of an offline backup starts nothing and writes nothing.
find "$R" -printf '%p %s\n' | sort > "$TMPD/before"
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --dry-run --name k9
jq -r .backup_xml "$out" | grep -q 'offline: run by qemu-storage-daemon'
find "$R" -printf '%p %s\n' | sort | diff "$TMPD/before" -
no_bitmap vda k9

# Checkpoints follow the repository: the chain's full and the newest.
test "$(checkpoints)" = "k0 k4 "
for k in k0 k4; do
    for d in vda vdb; do bitmap_sound "$d" "$k"; done
    virsh checkpoint-dumpxml "$dom" "$k" | grep -q '<description>vckpt backup checkpoint, identity [0-9a-f]\{32\}</description>'
done
# The others went with their bitmaps (the domain is shut off: qemu-img,
# then libvirt's metadata), and libvirt re-parented the newest.
for k in k1 k2 k3; do no_bitmap vda "$k"; no_bitmap vdb "$k"; done
test "$(virsh checkpoint-dumpxml "$dom" k4 | xmllint --xpath 'string(/domaincheckpoint/parent/name)' -)" = k0
in_use_none

for i in 0 1 2 3 4; do restored_ok "k$i" "$i"; done
# The points really differ (the test can fail).
expect_exit 1 qemu-img compare -q "$TMPD/m0-vda.qcow2" "$TMPD/m1-vda.qcow2"
expect_exit 1 qemu-img compare -q "$TMPD/m1-vdb.qcow2" "$TMPD/m2-vdb.qcow2"

expect_exit 0 vckpt verify "$dom" --repo "$R"
expect_exit 0 vckpt --json validate "$dom" --repo "$R"
jq -e '.findings | map(select(.severity != "info")) | length == 0' "$out"

# The checkpoints work for libvirt once the domain runs: an online
# incremental from the last offline checkpoint restores bit for bit.
put vdb 0x22 0 64K
backup --incremental k4 --name k5
test "$(jq -r '.level, .since' "$out" | tr '\n' ' ')" = "incremental k4 "
snap 5
off
restored_ok k5 5
