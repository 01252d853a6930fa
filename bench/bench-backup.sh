#!/usr/bin/env bash
# Benchmark (issue: backups), one run, ratios printed:
#   full:   vckpt backup --full of a 4 GiB disk holding 1 GiB of data, against
#           cp of the disk image (the physical limit: the same bytes read and
#           written on the same file system) and virtnbdbackup -l full
#   incr:   64 MiB in 64 scattered 1 MiB writes, then vckpt backup
#           --incremental against virtnbdbackup -l inc
#   scale:  64 MiB on a 256 GiB sparse disk: vckpt's incremental there
#           against the one of the 4 GiB disk (its cost should follow the
#           changed bytes, not the disk size), once at the same offsets as
#           on the 4 GiB disk and once scattered over the whole 256 GiB
#           (64 writes 4001 MiB apart: 64 regions of 512 MiB touched
#           instead of 8, each costing the target image a new L2 table)
#   memory: vckpt's peak RSS for a full backup of a 1 GiB and a 4 GiB disk,
#           and for the incrementals of the 4 GiB and the 256 GiB disks
# Each measurement is the median of RUNS runs (default 3), each on a fresh
# repository / target directory.  Needs root (the lab) and virtnbdbackup.
set -e
. "$(dirname "$0")/bench-lib.sh"
requires virtnbdbackup --version

lab_start >/dev/null
# Two identical domains: virtnbdbackup refuses checkpoints it did not make.
dom=bench
peer=bench-peer
for d in "$dom" "$peer"; do
    lab_domain_define "$d" --disk 4G --memory 128 >/dev/null
    lab_domain_start "$d" >/dev/null
    for i in 0 1 2 3; do lab_write "$d" vda 0x5$i $((i * 1024))M 256M >/dev/null; done
    lab_domain_stop "$d" >/dev/null     # flush the data into the image for cp
    lab_domain_start "$d" >/dev/null
done
img=$(lab_disk_path "$dom" vda)
# The 256 GiB sparse disk: 256 MiB of data, the rest never written.
huge=bench-huge
near=bench-huge-near
for d in "$huge" "$near"; do
    lab_domain_define "$d" --disk 256G --memory 128 >/dev/null
    lab_domain_start "$d" >/dev/null
    lab_write "$d" vda 0x55 0 256M >/dev/null
done


# cp of the image: the same data read from and written to the same disk.
for i in $(seq $RUNS); do
    rm -f "$TMPD/cp.qcow2"; sync; t0=$(now)
    cp --sparse=always "$img" "$TMPD/cp.qcow2"; sync -f "$TMPD/cp.qcow2"
    echo "$(now) - $t0" | bc
done | median > "$TMPD/t_cp"

# vckpt full (fresh repository each run; the checkpoints are removed after).
for i in $(seq $RUNS); do
    rm -rf "$TMPD/repo"; t0=$(now)
    "$VCKPT" -q backup "$dom" --full --repo "$TMPD/repo" --name full$i >/dev/null
    echo "$(now) - $t0" | bc
    virsh -q checkpoint-delete "$dom" full$i >/dev/null
done | median > "$TMPD/t_vckpt_full"

# virtnbdbackup full (it creates its own checkpoints; removed after).
vnb() { virtnbdbackup -U "$LAB_URI" -d "$peer" --noprogress "$@" >/dev/null 2>"$TMPD/vnb.err" ||
            { cat "$TMPD/vnb.err" >&2; return 1; }; }
for i in $(seq $RUNS); do
    rm -rf "$TMPD/vnb"; t0=$(now)
    vnb -l full -o "$TMPD/vnb"
    echo "$(now) - $t0" | bc
    for c in $(virsh -q checkpoint-list "$peer" --name); do virsh -q checkpoint-delete "$peer" "$c" >/dev/null; done
done | median > "$TMPD/t_vnb_full"

# Incremental: both tools start a chain, then 64 x 1 MiB scattered writes
# (every 61 MiB on the 4 GiB disks, every 4001 MiB on the 256 GiB one).
rm -rf "$TMPD/repo" "$TMPD/vnb" "$TMPD/repo-huge" "$TMPD/repo-near"
"$VCKPT" -q backup "$dom" --full --repo "$TMPD/repo" --name base >/dev/null
"$VCKPT" -q backup "$huge" --full --repo "$TMPD/repo-huge" --name base >/dev/null
"$VCKPT" -q backup "$near" --full --repo "$TMPD/repo-near" --name base >/dev/null
vnb -l full -o "$TMPD/vnb"
last() { vckpt --json list-backups "$1" --repo "$2" | jq -r '.backups[-1].checkpoint'; }
for i in $(seq $RUNS); do
    for j in $(seq 0 63); do
        lab_write "$dom" vda 0x7$((i % 10)) $((j * 61 + i))M 1M >/dev/null
        lab_write "$peer" vda 0x7$((i % 10)) $((j * 61 + i))M 1M >/dev/null
        lab_write "$huge" vda 0x7$((i % 10)) $((j * 4001 + i))M 1M >/dev/null
        lab_write "$near" vda 0x7$((i % 10)) $((j * 61 + i))M 1M >/dev/null
    done
    prev=$(last "$dom" "$TMPD/repo"); prev_huge=$(last "$huge" "$TMPD/repo-huge")
    prev_near=$(last "$near" "$TMPD/repo-near")
    t0=$(now)
    "$VCKPT" -q backup "$dom" --incremental "$prev" --repo "$TMPD/repo" --name inc$i >/dev/null
    t1=$(now)
    vnb -l inc -o "$TMPD/vnb"
    t2=$(now)
    "$VCKPT" -q backup "$huge" --incremental "$prev_huge" --repo "$TMPD/repo-huge" --name inc$i >/dev/null
    t3=$(now)
    "$VCKPT" -q backup "$near" --incremental "$prev_near" --repo "$TMPD/repo-near" --name inc$i >/dev/null
    t4=$(now)
    echo "$(echo "$t1 - $t0" | bc) $(echo "$t2 - $t1" | bc) $(echo "$t3 - $t2" | bc) $(echo "$t4 - $t3" | bc)"
done > "$TMPD/t_inc"
awk '{print $1}' "$TMPD/t_inc" | median > "$TMPD/t_vckpt_inc"
awk '{print $2}' "$TMPD/t_inc" | median > "$TMPD/t_vnb_inc"
awk '{print $3}' "$TMPD/t_inc" | median > "$TMPD/t_vckpt_huge"
awk '{print $4}' "$TMPD/t_inc" | median > "$TMPD/t_vckpt_near"
# The increments really hold 64 MiB.
inc_bytes=$(vckpt --json list-backups "$dom" --repo "$TMPD/repo" | jq '.backups[-1].disks[0].bytes')
huge_bytes=$(vckpt --json list-backups "$huge" --repo "$TMPD/repo-huge" | jq '.backups[-1].disks[0].bytes')

# Memory: peak RSS of a full backup of a 1 GiB and of the 4 GiB disk.
lab_domain_define small --disk 1G >/dev/null
lab_domain_start small >/dev/null
lab_write small vda 0x66 0 256M >/dev/null
rss() { peak_rss "$VCKPT" -q backup "$1" --full --repo "$TMPD/rss-$1" --name rss; }
rss_1g=$(rss small)
rss_4g=$(rss "$dom")
# ... and of an incremental of 64 MiB on the 4 GiB and the 256 GiB disks.
rss_inc() {
    for j in $(seq 0 63); do lab_write "$1" vda 0x6e $((j * $2))M 1M >/dev/null; done
    peak_rss "$VCKPT" -q backup "$1" --incremental "$(last "$1" "$3")" --repo "$3" --name rss-inc
}
rss_inc_4g=$(rss_inc "$dom" 61 "$TMPD/repo")
rss_inc_256g=$(rss_inc "$huge" 4001 "$TMPD/repo-huge")

t_cp=$(cat "$TMPD/t_cp"); t_vf=$(cat "$TMPD/t_vckpt_full"); t_nf=$(cat "$TMPD/t_vnb_full")
t_vi=$(cat "$TMPD/t_vckpt_inc"); t_ni=$(cat "$TMPD/t_vnb_inc"); t_vh=$(cat "$TMPD/t_vckpt_huge")
t_vn=$(cat "$TMPD/t_vckpt_near")
echo "full backup, 4 GiB disk with 1 GiB of data (median of $RUNS):"
echo "  cp of the image (physical limit)  ${t_cp} s"
echo "  vckpt backup --full               ${t_vf} s   $(ratio "$t_vf" "$t_cp")x the time of cp"
echo "  virtnbdbackup -l full             ${t_nf} s   vckpt is $(ratio "$t_nf" "$t_vf")x faster"
echo "incremental, 64 x 1 MiB scattered writes (median of $RUNS):"
echo "  vckpt backup --incremental        ${t_vi} s   (increment file: $inc_bytes bytes allocated)"
echo "  virtnbdbackup -l inc              ${t_ni} s   vckpt is $(ratio "$t_ni" "$t_vi")x faster"
echo "  vckpt, 256 GiB disk, same offsets ${t_vn} s   $(ratio "$t_vn" "$t_vi")x the 4 GiB disk's"
echo "  vckpt, 256 GiB disk, spread out   ${t_vh} s   $(ratio "$t_vh" "$t_vi")x the 4 GiB disk's (increment: $huge_bytes bytes)"
echo "vckpt peak RSS, full backup: 1 GiB disk ${rss_1g} KiB, 4 GiB disk ${rss_4g} KiB"
echo "vckpt peak RSS, incremental of 64 MiB: 4 GiB disk ${rss_inc_4g} KiB, 256 GiB disk ${rss_inc_256g} KiB"
