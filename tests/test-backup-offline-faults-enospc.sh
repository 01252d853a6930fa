#!/usr/bin/env bash
# The repository fills up during an offline full backup (a 48 MiB tmpfs,
# 60 MiB of data): the job fails with the file system's error (exit 1) and
# everything is rolled back; an incremental backup that fits then works.
. "${srcdir:-.}/offline-functions.sh"
set -e -x
offline_setup --small-fs --disk 96M
R=$TMPD/small/repo

put vda 0xb1 0 60M
off
expect_exit 4 vckpt --json backup "$dom" --repo "$R" --full --name k1
jq -e '[.preflight.findings[] | select(.code == "no-space") | .severity] == ["error"]' "$out"
expect_exit 1 vckpt backup "$dom" --repo "$R" --full --name k1 --no-validate
grep -q 'No space left on device' "$err"
rolled_back k1 0 0
test ! -e "$R/$dom/pending.xml"
# The data rewritten as zeros: the backup fits (the preflight still
# estimates the images' allocation).
put vda zero 0 60M
off
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name k2 --no-validate
snap 2
restored_ok k2 2
