#!/usr/bin/env bash
# On a stock host (QEMU as libvirt-qemu, dynamic ownership): push backups
# of a running domain at every level into the admin's 0755 repository.
# QEMU opens the targets libvirt chowned to it; afterwards every
# repository file is root's and 0600 again, every directory 0711 (QEMU may
# search, no one else may list), verify is clean, and each point restores
# the bytes the guest wrote.  (Before: the 0700 chain directory made the
# first backup fail with QEMU's "Permission denied".)
. "${srcdir:-.}/stock-functions.sh"
set -e -x
stock_setup
lab_domain_start "$dom"
backup() { expect_exit 0 vckpt --json backup "$dom" --repo "$R" "$@"; }

lab_write "$dom" vda 0x11 0 2M
lab_write "$dom" vdb 0x21 1M 1M
backup --full --name k0
test "$(jq -r .level "$out")" = full
repo_private
lab_write "$dom" vda 0x12 4M 1M
backup --incremental k0 --name k1
lab_write "$dom" vdb 0x22 8M 1M
backup --differential --name k2
test "$(jq -r .since "$out")" = k0
lab_write "$dom" vda 0x13 0 512K
backup --auto --name k3
test "$(jq -r .level "$out")" = incremental
repo_private
test -z "$(qemu_owned)"
expect_exit 0 vckpt --json verify "$dom" --repo "$R"
jq -e '.errors == 0 and .warnings == 0' "$out"

mkdir "$TMPD/r"
expect_exit 0 vckpt restore "$dom" --repo "$R" --at k3 --to "$TMPD/r"
lab_expect_pattern "$TMPD/r/vda.qcow2" 0 512K 0x13
lab_expect_pattern "$TMPD/r/vda.qcow2" 512K 1536K 0x11
lab_expect_pattern "$TMPD/r/vda.qcow2" 4M 1M 0x12
lab_expect_pattern "$TMPD/r/vdb.qcow2" 1M 1M 0x21
lab_expect_pattern "$TMPD/r/vdb.qcow2" 8M 1M 0x22
