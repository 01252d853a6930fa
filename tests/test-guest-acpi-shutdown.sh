#!/usr/bin/env bash
# A real Linux guest shut down through ACPI (virsh shutdown, the power
# button, busybox acpid) while its workload runs: the guest stops the
# workload, unmounts its data disk and powers off, so the domain is shut
# off and its disk is clean as it is, every recorded file intact (what an
# offline backup of it then copies).
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/lab-guest.sh"
set -e -x
lab_guest_requires
lab_start
lab_guest_build

dom=g1
lab_guest_define "$dom"
lab_guest_start "$dom"
lab_guest_workload_start "$dom"
lab_guest_wait_count "$dom" 3
n=$(lab_guest_workload_count "$dom")

lab_guest_shutdown "$dom" acpi
test "$(lab_domain_state "$dom")" = "shut off"
# The guest's own poweroff ran (not a destroy by libvirt).
assert_grep '^VCKPT-GUEST-POWEROFF' "$(lab_guest_console "$dom")"
lab_guest_check_image "$(lab_disk_path "$dom" vda)" --min "$n"
