#!/usr/bin/env bash
# Benchmark (issue 7, item 2), one run, ratios printed: restoring a chain of
# a full backup (4 GiB disk, 1 GiB of data) and an incremental (64 x 1 MiB
# scattered writes) with vckpt restore, which checks the size and SHA-256 of
# every file of the chain while qemu-img converts it, against qemu-img
# convert of the same chain alone (the target: within 1.3x), and against
# vckpt restore --no-verify.  vckpt also fsyncs the image; the peer is timed
# with and without a sync of its output.  Each figure is the median of RUNS
# runs (default 3), each into a fresh directory, measured in the same run.
set -e
. "$(dirname "$0")/bench-lib.sh"
requires_root

lab_start >/dev/null
dom=bench
lab_domain_define "$dom" --disk 4G --memory 128 >/dev/null
lab_domain_start "$dom" >/dev/null
for i in 0 1 2 3; do lab_write "$dom" vda 0x5$i $((i * 1024))M 256M >/dev/null; done
R=$TMPD/repo
"$VCKPT" -q backup "$dom" --full --repo "$R" --name full >/dev/null
for j in $(seq 0 63); do lab_write "$dom" vda 0x77 $((j * 61 + 3))M 1M >/dev/null; done
"$VCKPT" -q backup "$dom" --incremental full --repo "$R" --name inc >/dev/null
top=$R/$dom/$("$VCKPT" --json list-backups "$dom" --repo "$R" | jq -r '.backups[-1].disks[0].file')
chain_bytes=$(du -cb "$R/$dom"/*/*.qcow2 | tail -1 | cut -f1)


# Interleaved, so that each round sees the same machine state.
for i in $(seq $RUNS); do
    rm -rf "$TMPD/out"; mkdir "$TMPD/out"; sync
    t0=$(now)
    qemu-img convert -q -f qcow2 -O qcow2 "$top" "$TMPD/out/vda.qcow2"
    t1=$(now)
    sync -f "$TMPD/out/vda.qcow2"
    t2=$(now)
    rm -rf "$TMPD/out"; mkdir "$TMPD/out"; sync
    t3=$(now)
    "$VCKPT" -q restore "$dom" --repo "$R" --to "$TMPD/out" >/dev/null
    t4=$(now)
    rm -rf "$TMPD/out"; mkdir "$TMPD/out"; sync
    t5=$(now)
    "$VCKPT" -q restore "$dom" --repo "$R" --to "$TMPD/out" --no-verify >/dev/null
    t6=$(now)
    echo "$(echo "$t1 - $t0" | bc) $(echo "$t2 - $t0" | bc) $(echo "$t4 - $t3" | bc) $(echo "$t6 - $t5" | bc)"
done > "$TMPD/t"
t_conv=$(awk '{print $1}' "$TMPD/t" | median)
t_convsync=$(awk '{print $2}' "$TMPD/t" | median)
t_ver=$(awk '{print $3}' "$TMPD/t" | median)
t_nover=$(awk '{print $4}' "$TMPD/t" | median)
echo "restore of full + incremental, 4 GiB disk, $chain_bytes bytes in the chain (median of $RUNS):"
echo "  qemu-img convert of the chain          ${t_conv} s"
echo "  qemu-img convert + sync of the output  ${t_convsync} s"
echo "  vckpt restore (verified)               ${t_ver} s   $(ratio "$t_ver" "$t_conv")x convert alone, $(ratio "$t_ver" "$t_convsync")x convert + sync"
echo "  vckpt restore --no-verify              ${t_nover} s   $(ratio "$t_nover" "$t_conv")x convert alone"
