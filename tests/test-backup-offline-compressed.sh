#!/usr/bin/env bash
# backup --compress of a shut-off domain (the offline job): a full and an
# incremental backup written as zstd-compressed qcow2 files; each point
# restores bit for bit, every file says compression type zstd and holds
# compressed clusters, and the full backup of 8 MiB of program files
# takes well under its plain size.
. "${srcdir:-.}/offline-functions.sh"
set -e -x
offline_setup
backup() { expect_exit 0 vckpt --json backup "$dom" --repo "$R" --compress "$@"; }

# Data that compresses like real data: 8 MiB of shared libraries, written
# into the shut-off domain's vda and its model (no checkpoint exists yet:
# no bitmap needs to see it).
find /usr/lib -name '*.so*' -type f -size +64k 2>/dev/null | sort | head -200 |
    xargs cat 2>/dev/null | head -c 8M > "$TMPD/libs"
test "$(stat -c %s "$TMPD/libs")" = 8388608
for img in "$(lab_disk_path "$dom" vda)" "$TMPD/model-vda.qcow2"; do
    qemu-io -f qcow2 -c "write -s $TMPD/libs 1M 8M" "$img" > /dev/null
done
put vdb 0x20 0 1M
off
backup --full --name k0
test "$(jq -r '.level, .job, .compressed' "$out" | tr '\n' ' ')" = "full offline true "
snap 0

put vda 0x11 12M 1M
put vda zero 2M 512K         # zeros over k0's data: k0's must not show through
put vdb 0x21 4M 2M
off
backup --incremental k0 --name k1
test "$(jq -r '.level, .job, .compressed' "$out" | tr '\n' ' ')" = "incremental offline true "
jq -e '.bytes >= 3145728 and .bytes < 8388608' "$out"
snap 1

for i in 0 1; do restored_ok "k$i" "$i"; done
expect_exit 1 qemu-img compare -q "$TMPD/m0-vda.qcow2" "$TMPD/m1-vda.qcow2"

vckpt --json list-backups "$dom" --repo "$R" > "$TMPD/list.json"
n=0
for f in $(jq -r '.backups[].disks[].file' "$TMPD/list.json"); do
    qemu-img info --output=json "$R/$dom/$f" |
        jq -e '."format-specific".data."compression-type" == "zstd"'
    qemu-img check --output=json "$R/$dom/$f" | jq -e '."compressed-clusters" > 0'
    n=$((n + 1))
done
test "$n" = 4
# The full backup's vda: 8 MiB of libraries and nothing else.
full_vda=$(jq -r '.backups[0].disks[] | select(.target == "vda") | .file' "$TMPD/list.json")
size=$(stat -c %s "$R/$dom/$full_vda")
test "$size" -lt $((8 * 1024 * 1024 * 3 / 4)) ||
    fail "the compressed full backup of vda takes $size bytes for 8 MiB of data"
# list-backups: the guest data each file holds and the ratio of its bytes
# to it (k1's vda: 1 MiB of data, the zeros hold none).
jq -e '.backups[0].disks[] | select(.target == "vda") |
       .guest_bytes == 8388608 and .ratio < 0.75 and .ratio > 0.1' "$TMPD/list.json"
jq -e '.backups[1].disks[] | select(.target == "vda") | .guest_bytes == 1048576' \
    "$TMPD/list.json"
expect_exit 0 vckpt list-backups "$dom" --repo "$R"
awk 'NR > 1 { if ($NF !~ /^0\.[0-9][0-9]$/) bad = 1 } END { exit bad }' "$out" ||
    fail "list-backups shows no ratio below 1 for compressed backups"
# A manifest written before vckpt recorded the guest data still lists:
# no ratio.
sed -i '/<guestBytes>/d' "$R/$dom/manifest.xml"
expect_exit 0 vckpt list-backups "$dom" --repo "$R"
awk 'NR > 1 { if ($NF != "-") bad = 1 } END { exit bad }' "$out" ||
    fail "list-backups shows a ratio it cannot know"
expect_exit 0 vckpt --json list-backups "$dom" --repo "$R"
jq -e '[.backups[].disks[] | .guest_bytes, .ratio] | all(. == null)' "$out"

expect_exit 0 vckpt verify "$dom" --repo "$R"
in_use_none
