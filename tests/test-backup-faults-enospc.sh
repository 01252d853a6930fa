#!/usr/bin/env bash
# A repository without the space for the backup: refused by the preflight
# (no-space, exit 4); with --no-validate the copy fails for real in the
# middle (ENOSPC) and everything is rolled back.
. "${srcdir:-.}/faults-functions.sh"
set -e -x
faults_setup --small-fs
# More than the 48 MiB the repository's file system has.
put vda 0x31 0 96M
put vdb 0x41 0 1M

expect_exit 4 vckpt --json backup "$dom" --repo "$TMPD/small" --full --name nospace
jq -e '[.preflight.findings[] | select(.code == "no-space") | .severity] == ["error"]' "$out"
test "$(checkpoints)" = ""
expect_exit 1 vckpt backup "$dom" --repo "$TMPD/small" --full --no-validate --name nospace
grep -qi "no space left" "$err"
test "$(checkpoints)" = ""
test "$(nbackups "$TMPD/small")" -eq 0
test "$(disk_files "$TMPD/small")" -eq 0
test "$(df --output=used -k "$TMPD/small" | tail -1)" -lt 1024
