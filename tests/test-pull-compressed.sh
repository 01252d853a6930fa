#!/usr/bin/env bash
# --compress: the chain of backup-functions.sh written as zstd-compressed
# qcow2 files (a running domain: pull mode).  Every point restores bit for
# bit, every file says compression type zstd and holds compressed
# clusters, and a file holds far fewer bytes than the data it carries.
BF_ARGS=--compress
. "${srcdir:-.}/backup-functions.sh"
bf_setup

for i in 0 1 2 3 4; do
    test "$(jq -r .job "$TMPD/k$i.json")" = pull
    jq -e .compressed "$TMPD/k$i.json"
    mkdir "$TMPD/r$i"
    expect_exit 0 vckpt restore "$dom" --repo "$R" --at k$i --to "$TMPD/r$i"
    for d in vda vdb; do
        qemu-img compare -q "$TMPD/m$i-$d.qcow2" "$TMPD/r$i/$d.qcow2" ||
            fail "restore at k$i: $d differs from what was written"
    done
done
expect_exit 1 qemu-img compare -q "$TMPD/m0-vda.qcow2" "$TMPD/m1-vda.qcow2"

vckpt --json list-backups "$dom" --repo "$R" > "$TMPD/list.json"
files=$(jq -r '.backups[].disks[].file' "$TMPD/list.json")
test -n "$files"
for f in $files; do
    qemu-img info --output=json "$R/$dom/$f" | jq -e '."format-specific".data."compression-type" == "zstd"'
done
# The full backup's vda holds 1 MiB of one byte value: compressed, its
# data clusters take a few KiB (plain, at least the 1 MiB).
full_vda=$(jq -r '.backups[0].disks[] | select(.target == "vda") | .file' "$TMPD/list.json")
qemu-img check --output=json "$R/$dom/$full_vda" | jq -e '."compressed-clusters" > 0'
test "$(jq -r '.written' "$TMPD/k0.json")" -lt $((1024 * 1024)) ||
    fail "the compressed full backup took $(jq -r .written "$TMPD/k0.json") bytes"
expect_exit 0 vckpt verify "$dom" --repo "$R"
# Push mode cannot compress: refused as a usage error, nothing made.
expect_exit 2 vckpt backup "$dom" --repo "$R" --auto --push --compress
grep -q 'push cannot write compressed files' "$err"
