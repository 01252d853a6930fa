#!/usr/bin/env bash
# On a stock host: restore --define into the admin's 0755 --to, then
# `virsh start`, and overlay create on the shut-off domain, then `virsh
# start`, both run as libvirt-qemu.  A --to QEMU's user cannot reach
# (under a 0700 directory) is refused before anything is written (exit 4,
# the directory and the fix named), as is a drill whose temporary
# directory it cannot reach.
. "${srcdir:-.}/stock-functions.sh"
set -e -x
stock_setup
lab_domain_start "$dom"
lab_write "$dom" vda 0x51 0 1M
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name k0
lab_domain_stop "$dom"

P=$TMPD/private
mkdir -m 0700 "$P"
mkdir "$P/to"
expect_exit 4 vckpt restore "$dom" --repo "$R" --at k0 --to "$P/to" --define s1r
grep -q "QEMU runs as uid $QEMU_UID and cannot reach it: it cannot search $P " "$err"
test -z "$(ls -A "$P/to")"
if virsh -q dominfo s1r >/dev/null 2>&1; then fail "domain s1r was defined"; fi
expect_exit 4 vckpt restore "$dom" --repo "$R" --at k0 --to "$P/to" --define s1r --instant
test -z "$(ls -A "$P/to")"
if virsh -q dominfo s1r >/dev/null 2>&1; then fail "domain s1r was defined"; fi
TMPDIR=$P/to expect_exit 4 vckpt verify "$dom" --boot --at k0 --repo "$R" --marker X \
    --timeout 5
test -z "$(ls -A "$P/to")"

T=$TMPD/to
mkdir -m 0755 "$T"
expect_exit 0 vckpt restore "$dom" --repo "$R" --at k0 --to "$T" --define s1r
lab_domain_start s1r
lab_domain_stop s1r
lab_expect_pattern "$T/s1r-vda.qcow2" 0 1M 0x51
# libvirt gave the top images back to root (remember_owner).
test "$(stat -c '%u %a' "$T/s1r-vda.qcow2")" = "0 600"

expect_exit 0 vckpt overlay create "$dom" --name before
lab_domain_start "$dom"
lab_write "$dom" vda 0x52 2M 1M
lab_domain_stop "$dom"
lab_expect_pattern "$(lab_disk_path "$dom" vda)" 2M 1M 0x52
