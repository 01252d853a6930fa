#!/usr/bin/env bash
# Instant recovery of a real guest: restore --instant defines and starts a
# new domain on overlays over the backup (recorded in the repository, a
# second --instant of the same name refused), the guest writes files while
# it runs from the backup, then restore --finish moves its disks onto
# standalone images while it runs (block copy, pivot): afterwards the
# domain's live and persistent XML use the images in --to, nothing it
# reads is in the repository, the overlays and the record are gone, the
# files the guest wrote before and after the move are intact in the image,
# and the repository's files are unchanged (verify passes).
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/lab-guest.sh"
. "${srcdir:-.}/drill-functions.sh"
set -e -x
lab_guest_requires
lab_start
lab_guest_build

dom=g1
new=g1new
R=$TMPD/repo
I=$TMPD/instant
F=$TMPD/final
mkdir "$I" "$F"
lab_guest_define "$dom"
lab_guest_start "$dom"
lab_guest_workload_start "$dom"
lab_guest_wait_count "$dom" 3
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --quiesce --name k0
lab_guest_workload_stop "$dom"
lab_guest_shutdown "$dom"
before=$(drill_sums "$R")

expect_exit 0 vckpt --json restore "$dom" --instant --define "$new" --to "$I" --repo "$R"
jq -e --arg p "$I/$new-vda.instant.qcow2" '.mode == "instant" and .disks[0].path == $p' "$out"
jq -e --arg n "$new" '.domains[0].name == $n' "$R/$dom/instant.json"
test "$(lab_domain_state "$new")" = running
# The same name again: refused, nothing changed.
expect_exit 1 vckpt restore "$dom" --instant --define "$new" --to "$I" --repo "$R"
grep -q "already exists" "$err"
test "$(ls "$I")" = "$new-vda.instant.qcow2"

lab_guest_wait_agent "$new"
n0=$(lab_guest_workload_count "$new")
lab_guest_workload_start "$new"
lab_guest_wait_count "$new" $(( n0 + 4 ))

expect_exit 0 vckpt --json restore --finish "$new" --to "$F" --repo "$R"
jq -e --arg p "$F/$new-vda.qcow2" '.mode == "finish" and .disks[0].path == $p' "$out"
test "$(lab_domain_state "$new")" = running
for flags in "" --inactive; do
    # shellcheck disable=SC2086
    virsh -c "$LAB_URI" dumpxml $flags "$new" >"$TMPD/x.xml"
    test "$(xmllint --xpath 'string(/domain/devices/disk/source/@file)' "$TMPD/x.xml")" \
        = "$F/$new-vda.qcow2"
    if grep -q -e "$R" -e "$I" "$TMPD/x.xml"; then
        fail "domain XML ($flags) still names the repository or an overlay"
    fi
done
test ! -e "$R/$dom/instant.json"
test -z "$(ls -A "$I")" || fail "overlays left: $(ls -A "$I")"
test "$(stat -c %a "$F/$new-vda.qcow2")" = 600

n1=$(lab_guest_workload_count "$new")
lab_guest_wait_count "$new" $(( n1 + 2 ))
lab_guest_workload_stop "$new"
n2=$(lab_guest_workload_count "$new")
lab_guest_shutdown "$new"
qemu-img info --output=json "$F/$new-vda.qcow2" | jq -e 'has("backing-filename") | not'
lab_guest_check_image "$F/$new-vda.qcow2" --min "$n2"

assert_eq "$before" "$(drill_sums "$R")" "backup files changed"
expect_exit 0 vckpt --json verify "$dom" --repo "$R"
jq -e '.errors == 0 and .warnings == 0' "$out"
