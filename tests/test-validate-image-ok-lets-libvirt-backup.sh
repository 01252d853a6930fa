#!/usr/bin/env bash
# What the validator calls OK really lets libvirt's incremental backup
# run, and it copies exactly what was written after c1.
. "${srcdir:-.}/validate-images-functions.sh"
set -e -x
vi_setup

lab_domain_start "$dom"
ok --checkpoint c1
lab_libvirt_backup "$dom" c1 "$TMPD/bk-final"
lab_expect_pattern "$TMPD/bk-final/vda.qcow2" 1M 1M 0x22
