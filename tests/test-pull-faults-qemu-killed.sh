#!/usr/bin/env bash
# QEMU killed during a pull backup's copy: the run fails (exit 1) saying
# the domain stopped, its checkpoint goes, nothing is left in the
# repository; the earlier backup still restores.
. "${srcdir:-.}/faults-functions.sh"
set -e -x
export VCKPT_LOCK_DIR=$TMPD/run
faults_setup
put vda 0x31 0 8M
put vdb 0x41 0 1M
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --pull --name a1

hold_at pull-begun "$VCKPT" backup "$dom" --repo "$R" --auto --pull --name q1
lab_domain_kill "$dom"
release
test "$rc" -eq 1 || fail "QEMU killed: exit $rc, want 1"
grep -q "the domain stopped during the backup" "$TMPD/e"
no_checkpoint q1
test "$(nbackups)" -eq 1
test "$(disk_files)" -eq 2
test ! -e "$R/$dom/pending.xml"
restored_ok a1 vda vdb
