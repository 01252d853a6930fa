#!/usr/bin/env bash
# A chain vckpt's own flattening meets something it leaves to qemu-img
# halfway: a zstd-compressed increment over a full whose clusters are
# zlib-compressed (the full rewritten by qemu-img, restored with
# --no-verify).  Restore drops what it had written and qemu-img converts
# the chain: bit for bit, nothing else left in --to.
. "${srcdir:-.}/restore-functions.sh"
export VCKPT_LOCK_DIR=$TMPD/run

lab_start
lab_domain_define "$dom" --disk 16M
lab_domain_start "$dom"
qemu-img create -q -f qcow2 "$TMPD/model.qcow2" 16M
model () { lab_write "$dom" vda "$1" "$2" "$3"
           qemu-io -f qcow2 -c "write -P $1 $2 $3" "$TMPD/model.qcow2" >/dev/null; }
model 0x31 0 2M
vckpt -q backup "$dom" --full --compress --name k0 --repo "$R"
model 0x32 1M 2M
vckpt -q backup "$dom" --auto --compress --name k1 --repo "$R"

full=$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[0].disks[0].file')
qemu-img convert -q -c -f qcow2 -O qcow2 -o compression_type=zlib "$R/$dom/$full" "$TMPD/zlib.qcow2"
qemu-img check --output=json "$TMPD/zlib.qcow2" | jq -e '."compressed-clusters" > 0'
cat "$TMPD/zlib.qcow2" > "$R/$dom/$full"
qemu-img info --output=json "$R/$dom/$full" |
    jq -e '."format-specific".data."compression-type" == "zlib"'

mkdir "$TMPD/to"
expect_exit 0 vckpt -v restore "$dom" --repo "$R" --at k1 --no-verify --to "$TMPD/to"
grep -q 'a zlib-compressed cluster: qemu-img converts the chain' "$err"
grep -q 'disk vda: qemu-img convert' "$err"
qemu-img compare -q "$TMPD/model.qcow2" "$TMPD/to/vda.qcow2" ||
    fail "the restore differs from what was written"
test "$(ls -A "$TMPD/to")" = vda.qcow2 || fail "in $TMPD/to: $(ls -A "$TMPD/to")"
