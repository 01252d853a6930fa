#!/usr/bin/env bash
# --quiesce without a guest agent: a clear failure (exit 1), and nothing
# is left behind: checkpoints, manifest and files as before.
. "${srcdir:-.}/faults-functions.sh"
set -e -x
faults_setup
put vda 0x31 0 1M
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name a1
put vda 0x32 1M 1M

before=$(nbackups)
files=$(disk_files)
cks=$(checkpoints)
expect_exit 1 vckpt backup "$dom" --repo "$R" --auto --quiesce --name qz
grep -q "cannot freeze the guest's file systems (--quiesce needs the guest agent)" "$err"
test "$(checkpoints)" = "$cks"
test "$(nbackups)" -eq "$before"
test "$(disk_files)" -eq "$files"
test ! -e "$R/$dom/pending.xml"
