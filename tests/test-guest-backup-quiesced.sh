#!/usr/bin/env bash
# Full and incremental backups of a real Linux guest with --quiesce while
# its workload writes: vckpt freezes the file systems through the agent
# around the start of the backup, so each restored image is clean as it
# is (no journal to replay, e2fsck -fn exit 0) and holds every file the
# workload recorded before the backup began; the guest is thawed after
# each backup and its workload goes on; both are recorded as quiesced.
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

thawed() {
    test "$(lab_guest_agent "$dom" '{"execute":"guest-fsfreeze-status"}' |
            jq -r .return)" = thawed
}

lab_guest_wait_count "$dom" 3
n0=$(lab_guest_workload_count "$dom")
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --full --quiesce --name k0
jq -e '.level == "full"' "$out"
thawed || fail "the guest is still frozen after the backup"
lab_guest_wait_count "$dom" $(( n0 + 4 ))
n1=$(lab_guest_workload_count "$dom")
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --incremental k0 --quiesce --name k1
jq -e '.level == "incremental" and .bytes > 0' "$out"
thawed || fail "the guest is still frozen after the backup"
lab_guest_wait_count "$dom" $(( n1 + 2 ))
lab_guest_workload_stop "$dom"
expect_exit 0 vckpt verify "$dom" --repo "$R"
# Each backup is recorded as quiesced (manifest, list-backups).
test "$(grep -c 'quiesced="yes"' "$R/$dom/manifest.xml")" -eq 2
expect_exit 0 vckpt --json list-backups "$dom" --repo "$R"
test "$(jq -c '[.backups[].quiesced]' "$out")" = '[true,true]'
expect_exit 0 vckpt list-backups "$dom" --repo "$R"
test "$(grep -c '^    quiesced: yes$' "$out")" -eq 2

for k in k0 k1; do
    mkdir "$TMPD/$k"
    expect_exit 0 vckpt restore "$dom" --repo "$R" --at "$k" --to "$TMPD/$k"
done
# No --replay: a frozen file system has no journal left to replay.
lab_guest_check_image "$TMPD/k0/vda.qcow2" --min "$n0"
lab_guest_check_image "$TMPD/k1/vda.qcow2" --min "$n1"
