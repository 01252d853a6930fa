#!/usr/bin/env bash
# Checkpoint names: every name vckpt accepts, libvirt accepts too; every
# name vckpt refuses (exit 2, before talking to libvirt) is one libvirt
# refuses, or one vckpt refuses on purpose (leading '-', over 100
# characters).  '+' was accepted by vckpt and refused by libvirt.
. "${srcdir:-.}/functions.sh"
set -e -x
lab_start

dom=names
lab_domain_define "$dom" --disk 64M
lab_domain_start "$dom"

long=$(printf 'x%.0s' {1..100})
accepted=(c1 A_b a-b a.b ab. _ab 9 "$long" vckpt.20261122T030000Z-full)
refused_by_both=('a+b' 'c1+full' '.ab' 'a:b' 'a,b' 'a@b' 'a=b' 'a~b' 'a b' 'a/b' 'café')
refused_on_purpose=('-ab' "${long}x")

for n in "${accepted[@]}"; do
    expect_exit 0 vckpt checkpoint create "$dom" "$n"
    virsh checkpoint-delete "$dom" "$n"
    virsh checkpoint-create-as "$dom" "$n" || fail "libvirt refused '$n', which vckpt accepts"
    virsh checkpoint-delete "$dom" "$n"
done
for n in "${refused_by_both[@]}"; do
    expect_exit 2 vckpt checkpoint create "$dom" "$n"
    grep -q "invalid checkpoint name" "$err"
    if virsh checkpoint-create-as "$dom" "$n"; then
        fail "libvirt accepted '$n', which vckpt refuses"
    fi
    # ... and as --name of a backup, before any work is done.
    expect_exit 2 vckpt backup "$dom" --repo "$TMPD/repo" --full --name "$n"
done
for n in "${refused_on_purpose[@]}"; do
    expect_exit 2 vckpt checkpoint create "$dom" "$n"
done
test -z "$(virsh -q checkpoint-list "$dom" --name)" || fail "a checkpoint was left behind"

# Domain names keep '+' (restore --define checks them with the same
# function): libvirt accepts a domain named so.
lab_domain_define 'web+db' --disk 16M
test "$(lab_domain_state 'web+db')" = "shut off"
