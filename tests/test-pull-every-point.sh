#!/usr/bin/env bash
# Pull mode (libvirt's NBD export read by vckpt, the targets written by its
# own qemu-storage-daemon): the chain of backup-functions.sh (full,
# incremental, --auto, differential, an empty increment) taken with --pull
# restores at every point bit for bit; each backup says it was a pull job;
# libvirt's scratch files and vckpt's sockets are gone afterwards, and the
# domain has no job left.
BF_ARGS=--pull
. "${srcdir:-.}/backup-functions.sh"
bf_setup

for i in 0 1 2 3 4; do
    test "$(jq -r .job "$TMPD/k$i.json")" = pull
    mkdir "$TMPD/r$i"
    expect_exit 0 vckpt restore "$dom" --repo "$R" --at k$i --to "$TMPD/r$i"
    for d in vda vdb; do
        qemu-img compare -q "$TMPD/m$i-$d.qcow2" "$TMPD/r$i/$d.qcow2" ||
            fail "restore at k$i: $d differs from what was written"
    done
done
expect_exit 1 qemu-img compare -q "$TMPD/m0-vda.qcow2" "$TMPD/m1-vda.qcow2"
# The increment copied what changed, not the disk: 1 MiB written since k0.
jq -e '.bytes >= 1048576 and .bytes < 4194304' "$TMPD/k1.json"
jq -e '.bytes == 0' "$TMPD/k4.json"

# Nothing left behind: no scratch file next to the disks, no socket
# directory, no job.
images=$(dirname "$(lab_disk_path "$dom" vda)")
if ls "$images" | grep -q vckpt-scratch; then
    fail "scratch files left: $(ls "$images")"
fi
test -z "$(ls -A "$TMPD/run-nbd")" || fail "left in the socket directory: $(ls -A "$TMPD/run-nbd")"
virsh domjobinfo "$dom" | grep -q 'Job type: *None'
expect_exit 0 vckpt verify "$dom" --repo "$R"
