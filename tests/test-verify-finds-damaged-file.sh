#!/usr/bin/env bash
# verify of a sound chain of five backups: OK (exit 0).  Once one disk
# file is damaged: exactly one problem, checksum-mismatch about that disk
# (--json), FAILED (text), exit 1.
. "${srcdir:-.}/backup-functions.sh"
bf_setup

expect_exit 0 vckpt verify "$dom" --repo "$R"
grep -q '^OK: 5 backups, 10 disk files, 0 problems' "$out"
bf_damage
expect_exit 1 vckpt --json verify "$dom" --repo "$R"
assert_finding "$out" checksum-mismatch severity=error disk=vda
jq -e '.findings | length == 1' "$out"
expect_exit 1 vckpt verify "$dom" --repo "$R"
grep -q '^FAILED: 5 backups, 10 disk files, 1 problem' "$out"
