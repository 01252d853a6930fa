#!/usr/bin/env bash
# A zstd-compressed chain (backup --compress of a running domain) whose
# increments overwrite 4 KiB inside a compressed cluster of the full,
# zero a range of the full's data, write zeros as data and write
# incompressible data (kept as plain clusters in a compressed file),
# then an empty increment.  Every point restores bit for bit through
# vckpt's own flattening of the chain (restore -v says so, for both
# disks; lib/flatten.c), each image it writes passes qemu-img check with
# no compressed cluster, and the zeroed range holds no cluster; also
# where --to refuses O_DIRECT (written through the page cache).
BF_ARGS=--compress
. "${srcdir:-.}/backup-functions.sh"

# model_file DISK FILE OFF LEN: FILE's bytes written to DISK and its model.
model_file ()
{
    lab_write "$dom" "$1" "$2" "$3" "$4"
    qemu-io -f qcow2 -c "write -s $2 $3 $4" "$TMPD/model-$1.qcow2" >/dev/null
}

lab_start
lab_domain_define "$dom" --disk 64M --disk 32M
lab_domain_start "$dom"
qemu-img create -q -f qcow2 "$TMPD/model-vda.qcow2" 64M
qemu-img create -q -f qcow2 "$TMPD/model-vdb.qcow2" 32M
head -c 1M /dev/urandom > "$TMPD/random1"
head -c 192K /dev/urandom > "$TMPD/random2"

bf_put vda 0x10 0 4M
model_file vda "$TMPD/random1" 6M 1M
bf_put vdb 0x20 0 1M
bf_backup 0 --full
bf_put vda 0x11 4096 4096           # inside the full's first compressed cluster
bf_put vda zero 1M 1M               # the full's data zeroed
bf_backup 1 --auto
bf_put vda 0 2M 64K                 # zeros written as data
bf_put vda 0x12 60M 4M              # up to the disk's end
model_file vdb "$TMPD/random2" 8M 192K
bf_backup 2 --auto
bf_backup 3 --auto                  # nothing written since

for i in 0 1 2 3; do
    jq -e .compressed "$TMPD/k$i.json"
    mkdir "$TMPD/r$i"
    expect_exit 0 vckpt -v restore "$dom" --repo "$R" --at "k$i" --to "$TMPD/r$i"
    for d in vda vdb; do
        grep -q "disk $d: .* flattened by vckpt" "$err" ||
            fail "restore at k$i: $d was not flattened by vckpt"
        qemu-img compare -q "$TMPD/m$i-$d.qcow2" "$TMPD/r$i/$d.qcow2" ||
            fail "restore at k$i: $d differs from what was written"
        qemu-img check -q "$TMPD/r$i/$d.qcow2" ||
            fail "restore at k$i: qemu-img check of $d failed"
        qemu-img check --output=json "$TMPD/r$i/$d.qcow2" |
            jq -e '(."compressed-clusters" // 0) == 0 and ."check-errors" == 0'
    done
done
mkdir "$TMPD/r2-cached"
VCKPT_TEST_NO_DIRECT_IO=1 expect_exit 0 vckpt -v restore "$dom" --repo "$R" --at k2 \
    --to "$TMPD/r2-cached"
grep -q 'VCKPT_TEST_NO_DIRECT_IO' "$err"
for d in vda vdb; do
    grep -q "disk $d: .* flattened by vckpt" "$err"
    qemu-img compare -q "$TMPD/m2-$d.qcow2" "$TMPD/r2-cached/$d.qcow2" ||
        fail "restore at k2 through the page cache: $d differs from what was written"
    qemu-img check -q "$TMPD/r2-cached/$d.qcow2"
done
# The zeroed MiB of vda at k1 is no cluster of the restored image.
qemu-img map --output=json "$TMPD/r1/vda.qcow2" |
    jq -e '[.[] | select(.start < 2097152 and .start + .length > 1048576 and .data)] | length == 0' ||
    fail "the zeroed range of vda holds data clusters in the restored image"
# The increments really hold what the test meant: k1 zero clusters and
# compressed data, k0 plain clusters among the compressed ones.
mapfile -t files < <(vckpt --json list-backups "$dom" --repo "$R" |
                     jq -r '.backups[] | .disks[] | select(.target == "vda") | .file')
qemu-img check --output=json "$R/$dom/${files[0]}" |
    jq -e '."compressed-clusters" > 0 and ."compressed-clusters" < ."allocated-clusters"'
qemu-img map --output=json "$R/$dom/${files[1]}" |
    jq -e '[.[] | select(.start == 1048576 and .zero and .depth == 0)] | length == 1'
