#!/usr/bin/env bash
# SIGTERM while vckpt hashes the new backup files (after the job, before
# the commit): never a silent death, exit 6 with everything rolled back (no
# checkpoint, no file, no journal); the next --auto is sound.  strace sends
# the signal as vckpt starts hashing the first new file: a hash of a few
# hundred MiB takes well under a second, too short to hit by watching.
. "${srcdir:-.}/signals-functions.sh"
set -e -x
sig_requires
lab_start
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom=sighash
R=$TMPD/repo
lab_domain_define "$dom" --disk 1G
lab_domain_start "$dom"
qemu-img create -q -f qcow2 "$TMPD/model-vda.qcow2" 1G
model_put vda 0x31 0 64M
model_put vda 0x32 512M 64M

sig_at TERM fadvise64 1 -- "$VCKPT" --verbose backup "$dom" --repo "$R" --full --name h1
sig_stopped TERM
assert_grep "hashing and committing the backup files" "$TMPD/e"
assert_grep "interrupted by signal 15: the backup was rolled back \(checkpoint 'h1' deleted, files removed\)" "$TMPD/e"
test "$(virsh -q checkpoint-list "$dom" --name)" = ""
test "$(vckpt --json list-backups "$dom" --repo "$R" | jq '.backups | length')" -eq 0
test "$(find "$R/$dom" -name '*.qcow2' | wc -l)" -eq 0
test ! -e "$R/$dom/pending.xml"

expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name h2
jq -e '.level == "full"' "$out"
mkdir "$TMPD/r2"
expect_exit 0 vckpt restore "$dom" --repo "$R" --at h2 --to "$TMPD/r2"
qemu-img compare -q "$TMPD/model-vda.qcow2" "$TMPD/r2/vda.qcow2"
