#!/usr/bin/env bash
# Whether libvirt says "busy" is decided on its error code, never on its
# message text (which the daemon translates): a checkpoint that cannot be
# created because the image already has a bitmap of that name fails with 1,
# even though libvirt's message holds the words "already" and "job" (here
# in the name).  Busy (5) comes from the code only: see
# test-backup-foreign-job-busy.sh.
. "${srcdir:-.}/functions.sh"
set -e -x
lab_start

dom=busytext
name=already-in-a-job
lab_domain_define "$dom" --disk 16M
qemu-img bitmap --add "$(lab_disk_path "$dom" vda)" "$name"
lab_domain_start "$dom"
expect_exit 1 vckpt checkpoint create "$dom" "$name"
assert_grep "cannot create checkpoint $name: .*already" "$err"
test -z "$(virsh -q checkpoint-list "$dom" --name)"
