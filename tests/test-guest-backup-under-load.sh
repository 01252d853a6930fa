#!/usr/bin/env bash
# Full and incremental backups of a real Linux guest taken while its
# workload writes and deletes files: each restored image is the crash-
# consistent state of a running ext4.  It needs its journal replayed (no
# freeze), is clean after the replay, and holds every file the workload
# recorded before the backup began, with its checksum.
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/lab-guest.sh"
set -e -x
lab_guest_requires
lab_start
lab_guest_build

dom=g1
R=$TMPD/repo
lab_guest_define "$dom"
lab_guest_start "$dom"
lab_guest_workload_start "$dom"

# Files recorded before each backup must be in its image.
lab_guest_wait_count "$dom" 3
n0=$(lab_guest_workload_count "$dom")
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --full --name k0
jq -e '.level == "full"' "$out"
# The workload goes on (and writes what the incremental must carry).
lab_guest_wait_count "$dom" $(( n0 + 4 ))
n1=$(lab_guest_workload_count "$dom")
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --incremental k0 --name k1
jq -e '.level == "incremental" and .bytes > 0' "$out"
lab_guest_wait_count "$dom" $(( n1 + 2 ))
lab_guest_workload_stop "$dom"
expect_exit 0 vckpt verify "$dom" --repo "$R"

for k in k0 k1; do
    mkdir "$TMPD/$k"
    expect_exit 0 vckpt restore "$dom" --repo "$R" --at "$k" --to "$TMPD/$k"
    # Crash-consistent: the journal of the mounted file system is in the
    # image and must be replayed first (so the check can fail).
    if lab_guest_check_image "$TMPD/$k/vda.qcow2" 2>"$TMPD/why"; then
        fail "$k: the image of a mounted, unfrozen ext4 is clean without journal replay?"
    fi
    assert_grep 'needs journal recovery' "$TMPD/why"
done
lab_guest_check_image "$TMPD/k0/vda.qcow2" --replay --min "$n0"
lab_guest_check_image "$TMPD/k1/vda.qcow2" --replay --min "$n1"
