#!/usr/bin/env bash
# On a stock host, instant recovery hands the repository's files to QEMU:
# libvirt's DAC driver chowns the overlay's whole backing chain to
# libvirt-qemu at start and never gives backing layers back.  While the
# instant domain runs, verify says so (file-owner, info, exit 0); once
# nothing runs from the backup (QEMU and libvirtd killed meanwhile, the
# domain and its overlays gone) it is an error (exit 1); the next backup
# of the domain gives them back (root's, 0600), their contents unchanged,
# verify clean, and the new
# incremental restores the bytes the guest wrote.
. "${srcdir:-.}/stock-functions.sh"
set -e -x
stock_setup
new=s1new
I=$TMPD/instant
mkdir "$I"
lab_domain_start "$dom"
lab_write "$dom" vda 0x41 0 1M
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name k0
before=$(sums)

expect_exit 0 vckpt restore "$dom" --instant --define "$new" --to "$I" --repo "$R"
test "$(lab_domain_state "$new")" = running
# The premise: the backup's files are QEMU's user's now.
test -n "$(qemu_owned)" || fail "libvirt did not chown the backing chain (premise)"
expect_exit 0 vckpt --json verify "$dom" --repo "$R"
assert_finding "$out" file-owner severity=info disk=vda
assert_finding "$out" file-owner severity=info disk=vdb

# libvirtd dies, comes back, then QEMU dies: nobody gives them back.
lab_daemon_kill
lab_daemon_restart
lab_domain_kill "$new"
test -n "$(qemu_owned)"
virsh -q undefine "$new" >/dev/null
rm -f "$I"/*                    # the record's entry is stale now
expect_exit 1 vckpt --json verify "$dom" --repo "$R"
assert_finding "$out" file-owner severity=error disk=vda

lab_write "$dom" vda 0x42 2M 1M
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name k1
test "$(jq -r .level "$out")" = incremental
test -z "$(qemu_owned)" || fail "still QEMU's: $(qemu_owned)"
repo_private
after=$(sums)
while read -r line; do
    grep -qxF "$line" <<<"$after" || fail "backup file changed: $line"
done <<<"$before"
expect_exit 0 vckpt --json verify "$dom" --repo "$R"
jq -e '.errors == 0' "$out"
mkdir "$TMPD/r"
expect_exit 0 vckpt restore "$dom" --repo "$R" --at k1 --to "$TMPD/r"
lab_expect_pattern "$TMPD/r/vda.qcow2" 0 1M 0x41
lab_expect_pattern "$TMPD/r/vda.qcow2" 2M 1M 0x42
