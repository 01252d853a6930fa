#!/usr/bin/env bash
# A job already running on the domain (a pull-mode backup stays active
# until aborted): validate refuses (job-running, exit 4) before libvirt is
# called, and says OK again once the job is gone.
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/virsh-backup.sh"
. "${srcdir:-.}/virsh-backup-perdisk.sh"
set -e -x
lab_start

dom='disk test'
lab_domain_define "$dom" --disk 64M
lab_domain_start "$dom"
expect_exit 0 vckpt checkpoint create "$dom" c1 --disk vda
expect_exit 0 vckpt validate "$dom" --disk vda

lab_libvirt_pull_start "$dom" "$TMPD/nbd.sock" vda
expect_exit 4 vckpt --json validate "$dom" --disk vda
assert_finding "$out" job-running severity=error disk= "message~another job"
virsh domjobabort "$dom"
expect_exit 0 vckpt validate "$dom" --disk vda
