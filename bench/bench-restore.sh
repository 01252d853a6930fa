#!/usr/bin/env bash
# Benchmark (issue 12, restore), one run, ratios printed: restoring the
# newest point of a chain of a full backup (4 GiB disk, 1 GiB of data) and
# 10 incrementals (each 64 x 1 MiB scattered writes) with
#   - vckpt restore, which checks the size and checksum of every file of
#     the chain while qemu-img converts it, and fsyncs the image before
#     renaming it into place (target: within 1.3x of convert alone),
#   - vckpt restore --no-verify,
# against qemu-img convert of the same chain (alone, and + a sync of its
# output, for the record), and against virtnbdrestore of the virtnbdbackup
# chain (full + 10 incrementals) of an identical twin domain that got the
# same writes (target: vckpt at least 2x faster).  The restored bytes of
# each tool are compared with the domain's disk once, outside the timing.
# Each figure is the median of RUNS runs (default 3), each into a fresh
# directory, interleaved so that each round sees the same machine state.
set -e
. "$(dirname "$0")/bench-lib.sh"
requires_root
requires virtnbdbackup --version
requires virtnbdrestore --version

INCS=${INCS:-10}
lab_start >/dev/null
# Two identical domains: virtnbdbackup refuses checkpoints it did not make.
dom=bench
peer=bench-peer
for d in "$dom" "$peer"; do
    lab_domain_define "$d" --disk 4G --memory 128 >/dev/null
    lab_domain_start "$d" >/dev/null
    for i in 0 1 2 3; do lab_write "$d" 0 0x5$i $((i * 1024))M 256M >/dev/null; done
done
R=$TMPD/repo
vnb() { virtnbdbackup -U "$LAB_URI" -d "$peer" --noprogress "$@" \
            >/dev/null 2>"$TMPD/vnb.err" || { cat "$TMPD/vnb.err" >&2; return 1; }; }
"$VCKPT" -q backup "$dom" --full --repo "$R" --name full >/dev/null
vnb -l full -o "$TMPD/vnb"
prev=full
for k in $(seq "$INCS"); do
    for d in "$dom" "$peer"; do
        for j in $(seq 0 63); do
            lab_write "$d" 0 $((k + 0x60)) $(((j * 61 + k * 7) % 4032 + 3))M 1M >/dev/null
        done
    done
    "$VCKPT" -q backup "$dom" --incremental "$prev" --repo "$R" --name "inc$k" >/dev/null
    vnb -l inc -o "$TMPD/vnb"
    prev=inc$k
done
top=$R/$dom/$("$VCKPT" --json list-backups "$dom" --repo "$R" | jq -r '.backups[-1].disks[0].file')
links=$("$VCKPT" --json list-backups "$dom" --repo "$R" | jq '.backups | length')
chain_bytes=$(du -cb "$R/$dom"/*/*.qcow2 | tail -1 | cut -f1)
vnb_bytes=$(du -cb "$TMPD/vnb"/*.data | tail -1 | cut -f1)
# The domains' disks as the guests left them: the reference for the output.
lab_domain_stop "$dom" >/dev/null
lab_domain_stop "$peer" >/dev/null
ref=$(lab_disk_path "$dom" vda)
peer_ref=$(lab_disk_path "$peer" vda)
qemu-img compare -q "$ref" "$peer_ref" || fail "the twin's disk differs from the domain's"

vnr() { virtnbdrestore -U "$LAB_URI" -n -L "$TMPD/vnr.log" -i "$TMPD/vnb" -o "$1" \
            >/dev/null 2>"$TMPD/vnr.err" || { cat "$TMPD/vnr.err" >&2; return 1; }; }
fresh() { rm -rf "$TMPD/out"; mkdir "$TMPD/out"; sync; }

# The output of each tool, once, outside the timing: a benchmark of wrong
# output is worthless.
fresh
qemu-img convert -q -f qcow2 -O qcow2 "$top" "$TMPD/out/vda.qcow2"
qemu-img compare -q "$ref" "$TMPD/out/vda.qcow2" || fail "qemu-img convert: wrong output"
fresh
"$VCKPT" -q restore "$dom" --repo "$R" --to "$TMPD/out" >/dev/null
qemu-img compare -q "$ref" "$TMPD/out/vda.qcow2" || fail "vckpt restore: wrong output"
fresh
"$VCKPT" -q restore "$dom" --repo "$R" --to "$TMPD/out" --no-verify >/dev/null
qemu-img compare -q "$ref" "$TMPD/out/vda.qcow2" || fail "vckpt restore --no-verify: wrong output"
fresh
vnr "$TMPD/out"
vnr_out=$(find "$TMPD/out" -maxdepth 1 -type f -not -name '*.xml' | head -1)
[ -n "$vnr_out" ] || fail "virtnbdrestore wrote no image"
# Its qemu-nbd may still hold the image's write lock for a moment.
unlocked() { qemu-img info "$1" >/dev/null 2>&1; }
wait_for 30 "the release of virtnbdrestore's image" unlocked "$vnr_out"
qemu-img compare -q "$peer_ref" "$vnr_out" || fail "virtnbdrestore: wrong output"

for i in $(seq "$RUNS"); do
    fresh; t0=$(now)
    qemu-img convert -q -f qcow2 -O qcow2 "$top" "$TMPD/out/vda.qcow2"
    t1=$(now)
    sync -f "$TMPD/out/vda.qcow2"
    t2=$(now)
    fresh; t3=$(now)
    "$VCKPT" -q restore "$dom" --repo "$R" --to "$TMPD/out" >/dev/null
    t4=$(now)
    fresh; t5=$(now)
    "$VCKPT" -q restore "$dom" --repo "$R" --to "$TMPD/out" --no-verify >/dev/null
    t6=$(now)
    fresh; t7=$(now)
    vnr "$TMPD/out"
    t8=$(now)
    echo "$(echo "$t1 - $t0" | bc) $(echo "$t2 - $t0" | bc) $(echo "$t4 - $t3" | bc)" \
         "$(echo "$t6 - $t5" | bc) $(echo "$t8 - $t7" | bc)"
done > "$TMPD/t"
rm -rf "$TMPD/out"
col() { awk -v c="$1" '{print $c}' "$TMPD/t" | median; }
t_conv=$(col 1); t_convsync=$(col 2); t_ver=$(col 3); t_nover=$(col 4); t_vnr=$(col 5)
echo "restore of the newest of $links backups (full + $INCS incrementals), 4 GiB disk, $chain_bytes bytes in the chain (median of $RUNS):"
echo "  qemu-img convert of the chain          ${t_conv} s"
echo "  qemu-img convert + sync of the output  ${t_convsync} s"
echo "  vckpt restore (verified)               ${t_ver} s   $(ratio "$t_ver" "$t_conv")x convert alone, $(ratio "$t_ver" "$t_convsync")x convert + sync"
echo "  vckpt restore --no-verify              ${t_nover} s   $(ratio "$t_nover" "$t_conv")x convert alone"
echo "  virtnbdrestore (its chain: $vnb_bytes bytes)  ${t_vnr} s   vckpt (verified) is $(ratio "$t_vnr" "$t_ver")x faster"
