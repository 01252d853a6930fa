#!/usr/bin/env bash
# Restore drills of a full and of an incremental backup of a real guest:
# verify --boot starts each point in a transient domain on overlays, the
# guest agent answers, the result is recorded as the backup's last drill
# (list-backups, text and --json), nothing of the drill is left (no
# domain, no temporary directory), the repository's files are unchanged
# and verify passes without reporting the drill record as unknown.  QEMU
# runs as libvirt-qemu (the lab's stock configuration): libvirt chowns
# the backing chain in the repository to it for each drill and never gives
# backing layers back; vckpt does, so every file is root's and 0600 after.
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/lab-guest.sh"
. "${srcdir:-.}/drill-functions.sh"
set -e -x
lab_guest_requires
lab_start
lab_guest_build

dom=g1
R=$TMPD/repo
dt=$TMPD/drilltmp
mkdir -m 0711 "$dt"      # QEMU's user must reach the drill's overlays
lab_guest_define "$dom"
lab_guest_start "$dom"
lab_guest_workload_start "$dom"
lab_guest_wait_count "$dom" 2
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --quiesce --name k0
n0=$(lab_guest_workload_count "$dom")
lab_guest_wait_count "$dom" $(( n0 + 2 ))
expect_exit 0 vckpt backup "$dom" --repo "$R" --incremental k0 --quiesce --name k1
lab_guest_workload_stop "$dom"
lab_guest_shutdown "$dom"

before=$(drill_sums "$R")
for k in k0 k1; do
    TMPDIR=$dt expect_exit 0 vckpt --json verify "$dom" --boot --at "$k" --repo "$R" \
        --timeout 240
    jq -e '.result == "booted" and .method == "agent" and .seconds > 0' "$out"
    drill_nothing_left "$dt"
done
assert_eq "$before" "$(drill_sums "$R")" "backup files changed by the drills"
bad=$(find "$R/$dom" -name '*.qcow2' \! \( -user 0 -group 0 -perm 0600 \) -printf '%p %U:%G %m\n')
[ -z "$bad" ] || fail "repository files not given back after the drills: $bad"

expect_exit 0 vckpt --json list-backups "$dom" --repo "$R"
jq -e '[.backups[].last_drill.result] == ["booted", "booted"]' "$out"
expect_exit 0 vckpt list-backups "$dom" --repo "$R"
test "$(grep -c 'last drill: .*booted' "$out")" = 2 || fail "list-backups shows no drills"

expect_exit 0 vckpt --json verify "$dom" --repo "$R"
jq -e '.errors == 0 and .warnings == 0' "$out"
