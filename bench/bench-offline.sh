#!/usr/bin/env bash
# Benchmark (issue 9: offline backup), one run, ratios printed:
#   full:  vckpt backup --full of a shut-off domain (4 GiB disk holding
#          1 GiB of data) against virtnbdbackup's offline mode on an
#          identical domain (for a shut-off domain its "-l full" is a copy
#          through qemu-nbd, without a checkpoint), and cp of the image
#   incr:  64 MiB in 64 scattered 1 MiB writes made while the domains ran,
#          then, shut off, vckpt backup --incremental against
#          virtnbdbackup -l inc (offline: the delta since its newest
#          checkpoint, which it cannot create offline; an untimed online
#          virtnbdbackup -l inc before the writes moves that checkpoint on,
#          so both copy the same 64 MiB)
# Each measurement is the median of RUNS runs (default 3).  Needs root (the
# lab) and virtnbdbackup (scripts/install-deps.sh installs it).
set -e
. "$(dirname "$0")/bench-lib.sh"
requires virtnbdbackup --version

lab_start >/dev/null
dom=bench-off
peer=bench-off-peer
for d in "$dom" "$peer"; do
    lab_domain_define "$d" --disk 4G --memory 128 >/dev/null
    lab_domain_start "$d" >/dev/null
    for i in 0 1 2 3; do lab_write "$d" vda 0x5$i $((i * 1024))M 256M >/dev/null; done
    lab_domain_stop "$d" >/dev/null
done
img=$(lab_disk_path "$dom" vda)

vnb() { virtnbdbackup -U "$LAB_URI" -d "$peer" --noprogress "$@" >/dev/null 2>"$TMPD/vnb.err" ||
            { cat "$TMPD/vnb.err" >&2; return 1; }; }
# Forget an offline checkpoint: libvirt's metadata and the bitmap.
forget() {
    virsh -q checkpoint-delete "$1" "$2" --metadata >/dev/null
    qemu-img bitmap --remove "$(lab_disk_path "$1" vda)" "$2"
}

for i in $(seq $RUNS); do
    rm -f "$TMPD/cp.qcow2"; sync; t0=$(now)
    cp --sparse=always "$img" "$TMPD/cp.qcow2"; sync -f "$TMPD/cp.qcow2"
    echo "$(now) - $t0" | bc
done | median > "$TMPD/t_cp"

for i in $(seq $RUNS); do
    rm -rf "$TMPD/repo"; t0=$(now)
    "$VCKPT" -q backup "$dom" --full --repo "$TMPD/repo" --name full$i >/dev/null
    echo "$(now) - $t0" | bc
    forget "$dom" full$i
done | median > "$TMPD/t_vckpt_full"

for i in $(seq $RUNS); do
    rm -rf "$TMPD/vnb"; t0=$(now)
    vnb -l full -o "$TMPD/vnb"
    echo "$(now) - $t0" | bc
done | median > "$TMPD/t_vnb_full"

# Incremental: vckpt starts its chain offline; virtnbdbackup needs a
# running domain for its first checkpoint.
rm -rf "$TMPD/repo" "$TMPD/vnb"
"$VCKPT" -q backup "$dom" --full --repo "$TMPD/repo" --name base >/dev/null
lab_domain_start "$peer" >/dev/null
vnb -l full -o "$TMPD/vnb"
for i in $(seq $RUNS); do
    lab_domain_start "$dom" >/dev/null
    [ "$(lab_domain_state "$peer")" = running ] || lab_domain_start "$peer" >/dev/null
    [ "$i" = 1 ] || vnb -l inc -o "$TMPD/vnb"      # untimed: its checkpoint moves on
    for j in $(seq 0 63); do
        lab_write "$dom" vda 0x7$((i % 10)) $((j * 61 + i))M 1M >/dev/null
        lab_write "$peer" vda 0x7$((i % 10)) $((j * 61 + i))M 1M >/dev/null
    done
    lab_domain_stop "$dom" >/dev/null
    lab_domain_stop "$peer" >/dev/null
    prev=$("$VCKPT" --json list-backups "$dom" --repo "$TMPD/repo" | jq -r '.backups[-1].checkpoint')
    t0=$(now)
    "$VCKPT" -q backup "$dom" --incremental "$prev" --repo "$TMPD/repo" --name inc$i >/dev/null
    t1=$(now)
    vnb -l inc -o "$TMPD/vnb"
    t2=$(now)
    echo "$(echo "$t1 - $t0" | bc) $(echo "$t2 - $t1" | bc)"
done > "$TMPD/t_inc"
awk '{print $1}' "$TMPD/t_inc" | median > "$TMPD/t_vckpt_inc"
awk '{print $2}' "$TMPD/t_inc" | median > "$TMPD/t_vnb_inc"
inc_bytes=$("$VCKPT" --json list-backups "$dom" --repo "$TMPD/repo" | jq '.backups[-1].disks[0].bytes')
vnb_inc_bytes=$(ls -t "$TMPD"/vnb/vda.inc.*.data | head -1 | xargs stat -c %s)

t_cp=$(cat "$TMPD/t_cp"); t_vf=$(cat "$TMPD/t_vckpt_full"); t_nf=$(cat "$TMPD/t_vnb_full")
t_vi=$(cat "$TMPD/t_vckpt_inc"); t_ni=$(cat "$TMPD/t_vnb_inc")
echo "offline full backup, 4 GiB disk with 1 GiB of data (median of $RUNS):"
echo "  cp of the image (physical limit)  ${t_cp} s"
echo "  vckpt backup --full               ${t_vf} s   $(ratio "$t_vf" "$t_cp")x the time of cp"
echo "  virtnbdbackup -l full (offline)   ${t_nf} s   vckpt is $(ratio "$t_nf" "$t_vf")x faster"
echo "offline incremental, 64 x 1 MiB scattered writes (median of $RUNS):"
echo "  vckpt backup --incremental        ${t_vi} s   (increment file: $inc_bytes bytes allocated)"
echo "  virtnbdbackup -l inc (offline)    ${t_ni} s   vckpt is $(ratio "$t_ni" "$t_vi")x faster (its delta: $vnb_inc_bytes bytes)"
