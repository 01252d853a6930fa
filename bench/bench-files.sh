#!/usr/bin/env bash
# Benchmark (issue 23: file-level restore), ratios printed.  A whole-disk
# ext4 file system (256 MiB disk) holding an ~80 MB tree of /usr files is
# written into a shut-off lab domain and backed up offline (the fixtures
# of tests/files-functions.sh); from that one backup:
#   ls:      vckpt files ls (the file systems, no inspection) against a
#            bare appliance start on the same file, guestfish --ro -a FILE
#            run (target: within 1.3x)
#   get:     vckpt files get of the tree against the usual way today:
#            vckpt restore of the whole disk, qemu-img convert of it to raw,
#            a read-only loop mount on the host and cp -a of the tree (each
#            step's time given too); and against guestfish copy-out of the
#            tree straight from the backup file (libguestfs alone, without
#            vckpt's checks: the floor)
#   memory:  vckpt's own peak RSS (VmHWM, sampled every 0.1 s; not its
#            appliance's) for files ls and for files get of the tree: flat
#            in what is copied
# Each output is compared with the tree once.  guestfish runs with
# LIBGUESTFS_BACKEND_SETTINGS=force_tcg (KVM cannot run the appliance
# here; vckpt tries KVM first, 0.1 s).  An appliance start costs about
# 15 s under TCG, so each figure is the median of RUNS runs with RUNS
# defaulting to 1 here (not 3); the tools are interleaved, their order
# rotated.  An untimed guestfish start first builds or checks the
# appliance cache.  Needs root (the lab, the loop mount), mke2fs and
# guestfish; skips (77) where vckpt was built without libguestfs or the
# appliance cannot start.  Smaller sizes for a quick check: BENCH_SMALL=1
# (a 64 MiB disk holding an ~8 MB tree), or DISK_MIB and TREE_MIB.
set -e
RUNS=${RUNS:-${BENCH_RUNS:-1}}
. "$(dirname "$0")/bench-lib.sh"
# dom, R, files_setup, ext4_image, put_raw, same_tree; TMPDIR=$TMPD.
. "$srcdir/files-functions.sh"
requires guestfish --version
requires bc --version
requires mount --version

if [ -n "${BENCH_SMALL:-}" ]; then
    : "${DISK_MIB:=64}" "${TREE_MIB:=8}"
fi
DISK_MIB=${DISK_MIB:-256}
TREE_MIB=${TREE_MIB:-80}
[ $((TREE_MIB * 2)) -le "$DISK_MIB" ] || fail "TREE_MIB must be at most half of DISK_MIB"

# The tree: /usr files, half from /usr/lib (binaries, libraries), half
# from /usr/share (text, icons...), files over 16 MiB left out, up to
# TREE_MIB MB in all.
stage=$TMPD/stage
mkdir -p "$stage/tree"
: > "$TMPD/files"
for d in /usr/lib /usr/share; do
    find "$d" -xdev -type f -size -16M -printf '%s %p\n' 2>/dev/null | LC_ALL=C sort -k2 |
        awk -v max=$((TREE_MIB * 1000 * 1000 / 2)) '{ s += $1; if (s > max) exit; print substr($0, index($0, " ") + 1) }' \
            >> "$TMPD/files"
done
tar -C / --verbatim-files-from -cf - -T <(sed 's|^/||' "$TMPD/files") 2>/dev/null | tar -C "$stage/tree" -xf -
tree_bytes=$(du -sb "$stage/tree" | cut -f1)
tree_files=$(find "$stage/tree" -type f | wc -l)

files_setup --disk "${DISK_MIB}M" >/dev/null
ext4_image "$TMPD/fs.raw" "${DISK_MIB}M" "$stage"
put_raw vda "$TMPD/fs.raw"
rm "$TMPD/fs.raw"
"$VCKPT" -q backup "$dom" --repo "$R" --full --name fb >/dev/null
bfile=$R/$dom/$("$VCKPT" --json list-backups "$dom" --repo "$R" | jq -r '.backups[-1].disks[0].file')

gf() { LIBGUESTFS_BACKEND_SETTINGS=force_tcg guestfish --ro --format=qcow2 -a "$bfile" "$@"; }
# The appliance built (or its cache checked) outside the timing.
if ! gf run > "$TMPD/gf.log" 2>&1; then
    if ! libguestfs-test-tool > "$TMPD/test-tool.log" 2>&1; then
        echo "$0: SKIP: the libguestfs appliance cannot start here (libguestfs-test-tool fails)" >&2
        exit 77
    fi
    cat "$TMPD/gf.log" >&2
    fail "guestfish cannot start the appliance, libguestfs-test-tool can"
fi

# hwm_run FILE CMD...: run CMD (vckpt itself), its peak RSS (VmHWM, in
# KiB, the largest sample) into FILE; its exit status must be 0.
hwm_run() {
    local file=$1 pid hwm=0 v rc=0
    shift
    "$@" > "$TMPD/cmd.out" 2> "$TMPD/cmd.err" &
    pid=$!
    while v=$(awk '$1 == "VmHWM:" {print $2; f = 1} END {exit !f}' "/proc/$pid/status" 2>/dev/null); do
        [ "$v" -le "$hwm" ] || hwm=$v
        sleep 0.1
    done
    wait "$pid" || rc=$?
    if [ "$rc" != 0 ]; then
        cat "$TMPD/cmd.err" >&2
        if [ "$rc" = 4 ] && grep -q 'appliance cannot start' "$TMPD/cmd.err"; then
            echo "$0: SKIP: vckpt says the appliance cannot start" >&2
            exit 77
        fi
        fail "'$*' exited with $rc"
    fi
    echo "$hwm" > "$file"
}
mnt=$TMPD/mnt
mkdir "$mnt"
unmount_if() { if mountpoint -q "$1"; then umount "$1"; fi; }
cleanup_fn unmount_if "$mnt"
fresh() { rm -rf "$1"; mkdir "$1"; }

# The usual way: restore, convert, loop mount, cp -a, umount; the times
# of its steps appended to t_usual.
usual() {
    local t0 t1 t2 t3
    fresh "$TMPD/rdisk"; fresh "$TMPD/out-usual"
    t0=$(now)
    "$VCKPT" -q restore "$dom" --repo "$R" --latest --to "$TMPD/rdisk" >/dev/null
    t1=$(now)
    qemu-img convert -f qcow2 -O raw "$TMPD/rdisk/vda.qcow2" "$TMPD/rdisk/vda.raw"
    t2=$(now)
    mount -o loop,ro "$TMPD/rdisk/vda.raw" "$mnt"
    cp -a "$mnt/tree" "$TMPD/out-usual/"
    umount "$mnt"
    t3=$(now)
    echo "$(echo "$t1 - $t0" | bc) $(echo "$t2 - $t1" | bc) $(echo "$t3 - $t2" | bc)" >> "$TMPD/t_usual"
}
measure() {
    local t0 t1
    case $1 in
        ls) t0=$(now); hwm_run "$TMPD/hwm_ls" "$VCKPT" files ls "$dom" --repo "$R"; t1=$(now)
            grep -qx vda "$TMPD/cmd.out" || fail "files ls does not list vda: $(cat "$TMPD/cmd.out")" ;;
        bare) t0=$(now); gf run; t1=$(now) ;;
        get) fresh "$TMPD/out-get"
             t0=$(now)
             hwm_run "$TMPD/hwm_get" "$VCKPT" files get "$dom" --repo "$R" /vda/tree --to "$TMPD/out-get"
             t1=$(now) ;;
        gcopy) fresh "$TMPD/out-gcopy"
               t0=$(now); gf -m /dev/sda:/:ro copy-out /tree "$TMPD/out-gcopy"; t1=$(now) ;;
        usual) t0=$(now); usual; t1=$(now) ;;
    esac
    echo "$1 $(echo "$t1 - $t0" | bc)" >> "$TMPD/t"
}
tools=(ls bare get gcopy usual)
n=${#tools[@]}
for i in $(seq "$RUNS"); do
    for s in $(seq 0 $((n - 1))); do
        measure "${tools[$(( (s + i) % n ))]}"
    done
    cat "$TMPD/hwm_ls" >> "$TMPD/hwm_ls_all"
    cat "$TMPD/hwm_get" >> "$TMPD/hwm_get_all"
done
# A benchmark of a wrong copy is worthless (the last run's outputs).
same_tree "$stage/tree" "$TMPD/out-get/tree" 2>"$TMPD/same.log" ||
    { cat "$TMPD/same.log" >&2; fail "files get: not the tree"; }
diff -r --no-dereference "$stage/tree" "$TMPD/out-usual/tree" >/dev/null ||
    fail "restore + loop mount + cp: not the tree"
diff -r --no-dereference "$stage/tree" "$TMPD/out-gcopy/tree" >/dev/null ||
    fail "guestfish copy-out: not the tree"
rm -rf "$TMPD/out-get" "$TMPD/out-usual" "$TMPD/out-gcopy" "$TMPD/rdisk" "$stage"

pick() { awk -v m="$1" '$1 == m {print $2}' "$TMPD/t" | median; }
col() { awk -v c="$1" '{print $c}' "$TMPD/t_usual" | median; }
t_ls=$(pick ls); t_bare=$(pick bare); t_get=$(pick get); t_gcopy=$(pick gcopy); t_usual=$(pick usual)
u_restore=$(col 1); u_convert=$(col 2); u_cp=$(col 3)
hwm_ls=$(median < "$TMPD/hwm_ls_all"); hwm_get=$(median < "$TMPD/hwm_get_all")
echo "file-level restore from a full backup of a ${DISK_MIB} MiB whole-disk ext4 (median of $RUNS):"
echo "  guestfish --ro -a FILE run (bare appliance start)   ${t_bare} s"
echo "  vckpt files ls                                      ${t_ls} s   $(ratio "$t_ls" "$t_bare")x the bare start (target <= 1.3x)"
echo "a tree of $tree_files files, $(awk -v b="$tree_bytes" 'BEGIN {printf "%.1f", b / 1e6}') MB:"
echo "  restore + convert to raw + loop mount and cp -a     ${t_usual} s   (restore ${u_restore}, convert ${u_convert}, mount + cp -a + umount ${u_cp})"
echo "  guestfish copy-out from the backup file (floor)     ${t_gcopy} s"
echo "  vckpt files get                                     ${t_get} s   $(ratio "$t_get" "$t_usual")x the usual way, $(ratio "$t_get" "$t_gcopy")x guestfish copy-out"
echo "vckpt's own peak RSS (VmHWM, not the appliance's):"
echo "  files ls ${hwm_ls} KiB, files get of the tree ${hwm_get} KiB ($(ratio "$hwm_get" "$hwm_ls")x)"
