#!/usr/bin/env bash
# Bad input against the real daemon: a clear error, the documented exit
# code, one line on stderr, and no checkpoint changed.
. "${srcdir:-.}/checkpoint-functions.sh"
set -e -x
ck_setup

before=$(virsh -q checkpoint-list "$dom" --name | sort)
unchanged() { test "$(virsh -q checkpoint-list "$dom" --name | sort)" = "$before" || fail "checkpoints changed"; }
for bad in 'a/b' '..' 'a<b' 'a&b' "a'b" 'a b' 'café' ''; do
    expect_exit 2 vckpt checkpoint create "$dom" "$bad"
    unchanged
done
expect_exit 1 vckpt checkpoint create "$dom" c1
grep -q "checkpoint 'c1' already exists" "$err"
unchanged
expect_exit 3 vckpt checkpoint create "$dom" c9 --disk vda,vdz
grep -q "disk 'vdz' not found in domain 'web 1' (disks: vda, vdb)" "$err"
unchanged
expect_exit 3 vckpt checkpoint create 'no such domain' c9
grep -q "domain 'no such domain' not found" "$err"
expect_exit 3 vckpt checkpoint info "$dom" nochk
expect_exit 3 vckpt checkpoint delete "$dom" nochk
unchanged
test "$(wc -l < "$err")" -eq 1
