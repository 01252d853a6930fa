#!/usr/bin/env bash
# On a stock host: an offline full backup (vckpt's own qemu-storage-daemon,
# as root), then, with the domain running, backup --auto is an incremental
# push whose target QEMU (as libvirt-qemu) must open in the chain directory
# the offline backup made.  It restores exactly, and the repository stays
# vckpt's alone.
. "${srcdir:-.}/stock-functions.sh"
set -e -x
stock_setup
lab_domain_start "$dom"
lab_write "$dom" vda 0x31 0 1M
lab_domain_stop "$dom"
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --full --name k0
lab_domain_start "$dom"
lab_write "$dom" vda 0x32 2M 1M
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name k1
test "$(jq -r '.level, .since' "$out" | tr '\n' ' ')" = "incremental k0 "
repo_private
mkdir "$TMPD/r"
expect_exit 0 vckpt restore "$dom" --repo "$R" --at k1 --to "$TMPD/r"
lab_expect_pattern "$TMPD/r/vda.qcow2" 0 1M 0x31
lab_expect_pattern "$TMPD/r/vda.qcow2" 2M 1M 0x32
lab_expect_pattern "$TMPD/r/vda.qcow2" 1M 1M zero
expect_exit 0 vckpt --json verify "$dom" --repo "$R"
jq -e '.errors == 0' "$out"
