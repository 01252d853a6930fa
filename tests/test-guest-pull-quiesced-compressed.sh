#!/usr/bin/env bash
# A real Linux guest under its workload, backed up in pull mode into
# zstd-compressed files with --quiesce (full, then incremental): the file
# systems are frozen around the start of each backup and thawed after it;
# each restored image is clean as it is (e2fsck -fn) and holds every file
# the workload recorded before the backup; the incremental boots in a
# restore drill straight from the compressed chain.
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/lab-guest.sh"
. "${srcdir:-.}/drill-functions.sh"
set -e -x
lab_guest_requires
lab_start
lab_guest_build
export VCKPT_LOCK_DIR=$TMPD/run

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
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --full --pull --compress --quiesce --name k0
jq -e '.level == "full" and .job == "pull" and .compressed' "$out"
thawed || fail "the guest is still frozen after the backup"
lab_guest_wait_count "$dom" $(( n0 + 4 ))
n1=$(lab_guest_workload_count "$dom")
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --incremental k0 --pull --compress --quiesce --name k1
jq -e '.level == "incremental" and .job == "pull" and .bytes > 0' "$out"
thawed || fail "the guest is still frozen after the backup"
lab_guest_wait_count "$dom" $(( n1 + 2 ))
lab_guest_workload_stop "$dom"
expect_exit 0 vckpt verify "$dom" --repo "$R"
test "$(grep -c 'quiesced="yes"' "$R/$dom/manifest.xml")" -eq 2

for k in k0 k1; do
    mkdir "$TMPD/$k"
    expect_exit 0 vckpt restore "$dom" --repo "$R" --at "$k" --to "$TMPD/$k"
done
lab_guest_check_image "$TMPD/k0/vda.qcow2" --min "$n0"
lab_guest_check_image "$TMPD/k1/vda.qcow2" --min "$n1"

# The drill boots the compressed increment on overlays, nothing copied.
lab_guest_shutdown "$dom"
dt=$TMPD/drilltmp
mkdir -m 0711 "$dt"      # QEMU's user must reach the drill's overlays
TMPDIR=$dt expect_exit 0 vckpt --json verify "$dom" --boot --at k1 --repo "$R" --timeout 240
jq -e '.result == "booted" and .method == "agent"' "$out"
drill_nothing_left "$dt"
