#!/usr/bin/env bash
# Benchmark (issue 21: pull mode and zstd), one run, ratios printed:
#   full:    vckpt backup --full --pull of a 4 GiB disk holding 1 GiB of
#            data against the same backup in push mode (target: pull <=
#            1.0x push) and against virtnbdbackup -l full of an identical
#            twin domain (it refuses checkpoints it did not make)
#   cpu:     the domain's QEMU CPU time (utime + stime of its process)
#            per GiB of data during those full backups, pull against push;
#            and vckpt's with its children's (qemu-img, qemu-storage-daemon)
#   incr:    64 x 1 MiB scattered writes, then an incremental: pull
#            against push (target <= 1.3x), virtnbdbackup -l inc against
#            pull (target: pull >= 4x faster); push and pull each on a
#            chain of their own, on twin domains that get the same writes
#   zstd:    a 2 GiB ext4 file system holding about 1 GiB of /usr files
#            (binaries, libraries, headers, text), written into a domain's
#            disk while it is shut off: repository size of --compress
#            against plain pull (target <= 0.4x) and against
#            virtnbdbackup --compress (lz4, target: zstd >= 15% smaller),
#            backup time with --compress against plain pull (<= 2.2x),
#            vckpt restore of the compressed backup against the plain one
#            (<= 1.8x); each restore compared once with the file system
#   memory:  vckpt's peak RSS (with its qemu-storage-daemon) for a pull
#            full of a 1 GiB and of a 4 GiB disk holding the same 256 MiB:
#            flat in disk size (and, for the record, of the 4 GiB disk
#            holding 1 GiB: four workers' buffers in use at once)
#   remote:  a pull full of 1 GiB of data from a second hypervisor (the
#            two-host lab): MiB/s over NBD with TLS (target >= 350)
# Each measurement is the median of RUNS runs (default 3), each on a fresh
# repository / output directory, the modes interleaved (and their order
# alternated) so that each sees the same machine state.  Needs root (the
# lab) and mkfs.ext4; without virtnbdbackup its comparisons are skipped.
set -e
. "$(dirname "$0")/bench-lib.sh"
requires_root
requires mkfs.ext4 -V
requires bc --version
requires /usr/bin/time --version
have_vnb=1
virtnbdbackup --version >/dev/null 2>&1 || have_vnb=

# Pull mode's sockets are in $VCKPT_LOCK_DIR-nbd, which the lab's QEMU
# must see: the lab's /run is its own, $TMPD is shared.
export VCKPT_LOCK_DIR=$TMPD/run
GIB=$((1024 * 1024 * 1024))
TCK=$(getconf CLK_TCK)

lab_start >/dev/null
# remote: a pull full from the domain of a second hypervisor (the two-host
# lab, tests/lab-remote.sh: its own libvirtd in a network namespace over a
# veth pair, the NBD export on TCP with TLS, verified), 1 GiB of data on a
# 4 GiB disk: MiB/s of data (target >= 350 MiB/s), each run on a fresh
# repository after a sync, as the local ones.  Measured twice: first, on
# a fresh machine (before the local parts), and last, after them, when
# about 9 GiB of their files sit in the page cache (on this 2-core machine
# both hypervisors share the cores and the page cache; the second figure
# has come out 30% lower).
lab_remote_start >/dev/null
rdom=bench-remote
lab_remote lab_domain_define "$rdom" --disk 4G --memory 128 >/dev/null
lab_remote lab_domain_start "$rdom" >/dev/null
for i in 0 1 2 3; do lab_remote lab_write "$rdom" 0 0x6$i $((i * 1024))M 256M >/dev/null; done
printf 'nbd-tls-dir = "%s"\n' "$REMOTE_TLS_CLIENT_DIR" > "$TMPD/remote.conf"
remote_runs() {
    local i
    for i in $(seq $RUNS); do
        rm -rf "$TMPD/rrepo"; sync; t0=$(now)
        VCKPT_CONFIG=$TMPD/remote.conf "$VCKPT" -q -c "$REMOTE_URI" backup "$rdom" --full \
            --repo "$TMPD/rrepo" --name "rfull$1$i" >/dev/null
        echo "$(now) - $t0" | bc
        lab_remote_virsh checkpoint-delete "$rdom" "rfull$1$i" >/dev/null
    done | median
}
t_remote_first=$(remote_runs a)

# bench: push and pull fulls, the push chain; bench-pull: the pull chain;
# bench-peer: virtnbdbackup's.  Each holds the same 1 GiB.
dom=bench
dpull=bench-pull
peer=bench-peer
doms=("$dom" "$dpull")
[ -z "$have_vnb" ] || doms+=("$peer")
for d in "${doms[@]}"; do
    lab_domain_define "$d" --disk 4G --memory 128 >/dev/null
    lab_domain_start "$d" >/dev/null
    for i in 0 1 2 3; do lab_write "$d" 0 0x5$i $((i * 1024))M 256M >/dev/null; done
done

vnb() { virtnbdbackup -U "$LAB_URI" --noprogress "$@" >/dev/null 2>"$TMPD/vnb.err" ||
            { cat "$TMPD/vnb.err" >&2; return 1; }; }
# Remove every checkpoint of a domain (metadata and bitmaps).
uncheckpoint() {
    local c
    for c in $(virsh -q checkpoint-list "$1" --name); do
        virsh -q checkpoint-delete "$1" "$c" >/dev/null
    done
}
# The CPU time (utime + stime, in seconds) the QEMU process of a domain
# has used so far; its pid as libvirt recorded it in the lab's /run.
qemu_pid() {
    local pid
    pid=$(cat "/proc/$LAB_DAEMON_PID/root/run/libvirt/qemu/$1.pid") ||
        fail "no pid file for '$1'"
    case "$(cat "/proc/$pid/comm" 2>/dev/null)" in
        qemu*) echo "$pid" ;;
        *) fail "process $pid of '$1' is not QEMU" ;;
    esac
}
qemu_cpu() {
    local s
    s=$(cat "/proc/$1/stat") || fail "QEMU $1 is gone"
    s=${s##*) }                 # after "PID (comm) ": field 3 is $1
    # shellcheck disable=SC2086
    set -- $s
    echo "scale=3; (${12} + ${13}) / $TCK" | bc
}
bk() { "$VCKPT" -q backup "$@" >/dev/null; }
last() { "$VCKPT" --json list-backups "$1" --repo "$2" | jq -r '.backups[-1].checkpoint'; }
files_bytes() { du -B1 -c "$@" | tail -1 | cut -f1; }   # allocated bytes
qpid=$(qemu_pid "$dom")

# Full backups: push and pull of bench (order alternated), each into a
# fresh repository, the checkpoint removed after; virtnbdbackup of the twin.
for i in $(seq "$RUNS"); do
    rm -rf "$TMPD/push" "$TMPD/pull" "$TMPD/vnb"; sync
    for mode in push pull; do
        [ $((i % 2)) -eq 1 ] || mode=$([ "$mode" = push ] && echo pull || echo push)
        c0=$(qemu_cpu "$qpid"); t0=$(now)
        /usr/bin/time -f '%U + %S' -o "$TMPD/cpu" \
                      "$VCKPT" -q backup "$dom" --full "--$mode" --repo "$TMPD/$mode" --name "f$mode$i" >/dev/null
        t1=$(now); c1=$(qemu_cpu "$qpid")
        echo "$mode $(echo "$t1 - $t0" | bc) $(echo "$c1 - $c0" | bc) $(bc < "$TMPD/cpu")" >> "$TMPD/t_full_$i"
        virsh -q checkpoint-delete "$dom" "f$mode$i" >/dev/null
        sync
    done
    if [ -n "$have_vnb" ]; then
        t0=$(now)
        vnb -d "$peer" -l full -o "$TMPD/vnb"
        t1=$(now)
        uncheckpoint "$peer"
        echo "vnb $(echo "$t1 - $t0" | bc) 0" >> "$TMPD/t_full_$i"
    fi
done
cat "$TMPD"/t_full_* > "$TMPD/t_full"
pick() { awk -v m="$1" -v c="$2" '$1 == m {print $c}' "$3" | median; }
t_push=$(pick push 2 "$TMPD/t_full"); t_pull=$(pick pull 2 "$TMPD/t_full")
cpu_push=$(pick push 3 "$TMPD/t_full"); cpu_pull=$(pick pull 3 "$TMPD/t_full")
own_push=$(pick push 4 "$TMPD/t_full"); own_pull=$(pick pull 4 "$TMPD/t_full")
[ -z "$have_vnb" ] || t_vnb=$(pick vnb 2 "$TMPD/t_full")
# Both modes made the same backup (the last run's, outside the timing).
f_push=$TMPD/push/$dom/$("$VCKPT" --json list-backups "$dom" --repo "$TMPD/push" | jq -r '.backups[-1].disks[0].file')
f_pull=$TMPD/pull/$dom/$("$VCKPT" --json list-backups "$dom" --repo "$TMPD/pull" | jq -r '.backups[-1].disks[0].file')
qemu-img compare -q "$f_push" "$f_pull" || fail "the pull backup differs from the push backup"
b_push=$(files_bytes "$f_push"); b_pull=$(files_bytes "$f_pull")
rm -rf "$TMPD/push" "$TMPD/pull" "$TMPD/vnb"

# Incremental: each tool starts a chain, then 64 x 1 MiB scattered writes
# (every 61 MiB) on every twin before each timed round.
bk "$dom" --full --push --repo "$TMPD/ipush" --name base
bk "$dpull" --full --pull --repo "$TMPD/ipull" --name base
[ -z "$have_vnb" ] || vnb -d "$peer" -l full -o "$TMPD/ivnb"
for i in $(seq "$RUNS"); do
    for d in "${doms[@]}"; do
        for j in $(seq 0 63); do
            lab_write "$d" 0 0x7$((i % 10)) $((j * 61 + i))M 1M >/dev/null
        done
    done
    prev_push=$(last "$dom" "$TMPD/ipush"); prev_pull=$(last "$dpull" "$TMPD/ipull")
    sync
    if [ $((i % 2)) -eq 1 ]; then
        t0=$(now); bk "$dom" --incremental "$prev_push" --push --repo "$TMPD/ipush" --name "inc$i"
        t1=$(now); bk "$dpull" --incremental "$prev_pull" --pull --repo "$TMPD/ipull" --name "inc$i"
        t2=$(now)
        a=$(echo "$t1 - $t0" | bc); b=$(echo "$t2 - $t1" | bc)
    else
        t0=$(now); bk "$dpull" --incremental "$prev_pull" --pull --repo "$TMPD/ipull" --name "inc$i"
        t1=$(now); bk "$dom" --incremental "$prev_push" --push --repo "$TMPD/ipush" --name "inc$i"
        t2=$(now)
        b=$(echo "$t1 - $t0" | bc); a=$(echo "$t2 - $t1" | bc)
    fi
    c=0
    if [ -n "$have_vnb" ]; then
        t0=$(now); vnb -d "$peer" -l inc -o "$TMPD/ivnb"; t1=$(now)
        c=$(echo "$t1 - $t0" | bc)
    fi
    echo "$a $b $c"
done > "$TMPD/t_inc"
col() { awk -v c="$1" '{print $c}' "$2" | median; }
ti_push=$(col 1 "$TMPD/t_inc"); ti_pull=$(col 2 "$TMPD/t_inc"); ti_vnb=$(col 3 "$TMPD/t_inc")
# The increments hold the same 64 MiB.
lastfile() { echo "$2/$1/$("$VCKPT" --json list-backups "$1" --repo "$2" | jq -r '.backups[-1].disks[0].file')"; }
bi_push=$(files_bytes "$(lastfile "$dom" "$TMPD/ipush")")
bi_pull=$(files_bytes "$(lastfile "$dpull" "$TMPD/ipull")")

# Memory: peak RSS of a pull full of a 1 GiB and of a 4 GiB disk holding
# the same 256 MiB, and of the 4 GiB disk holding 1 GiB (there every
# worker copies data at once: each touches its 1 MiB buffer, in vckpt and
# in its qemu-storage-daemon).
for d in bench-1g:1G bench-4g:4G; do
    lab_domain_define "${d%:*}" --disk "${d#*:}" --memory 128 >/dev/null
    lab_domain_start "${d%:*}" >/dev/null
    lab_write "${d%:*}" 0 0x66 0 256M >/dev/null
done
rss() { peak_rss "$VCKPT" -q backup "$1" --full --pull --repo "$TMPD/rss-$1" --name rss; }
rss_1g=$(rss bench-1g)
rss_4g=$(rss bench-4g)
rss_4g_1g=$(rss "$dpull")
# The twins are done with: their memory back for what follows.
for d in "${doms[@]}" bench-1g bench-4g; do lab_domain_undefine "$d" >/dev/null; done
rm -rf "$TMPD/ipush" "$TMPD/ipull" "$TMPD/ivnb" "$TMPD"/rss-*

# zstd: an ext4 file system of /usr files, about 1 GiB: up to a share of
# each kind (files over 64 MiB left out), copied into a staging tree.
stage=$TMPD/stage
mkdir "$stage"
: > "$TMPD/files"
for q in /usr/bin:300 /usr/lib:350 /usr/include:120 /usr/share:300; do
    find "${q%:*}" -xdev -type f -size -64M -printf '%s %p\n' 2>/dev/null | LC_ALL=C sort -k2 |
        awk -v max=$(( ${q#*:} * 1024 * 1024 )) '{ s += $1; if (s > max) exit; print substr($0, index($0, " ") + 1) }' \
            >> "$TMPD/files"
done
tar -C / --verbatim-files-from -cf - -T <(sed 's|^/||' "$TMPD/files") 2>/dev/null | tar -C "$stage" -xf -
data_bytes=$(du -sb "$stage" | cut -f1)
fsimg=$TMPD/fs.raw
mkfs.ext4 -q -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 -d "$stage" "$fsimg" 2G >/dev/null
rm -rf "$stage"
fsd=bench-fs
lab_domain_define "$fsd" --disk 2G --memory 128 >/dev/null
qemu-img convert -n --target-is-zero -f raw -O qcow2 "$fsimg" "$(lab_disk_path "$fsd" vda)"
lab_domain_start "$fsd" >/dev/null
fs_used=$(qemu-img map -f raw --output=json "$fsimg" | jq '[.[] | select(.data) | .length] | add')

fresh() { rm -rf "$1"; mkdir "$1"; }
for i in $(seq "$RUNS"); do
    rm -rf "$TMPD/zplain" "$TMPD/zstd"; sync
    for mode in plain zstd; do
        [ $((i % 2)) -eq 1 ] || mode=$([ "$mode" = plain ] && echo zstd || echo plain)
        opt=--pull
        [ "$mode" = plain ] || opt=--compress
        t0=$(now)
        bk "$fsd" --full "$opt" --repo "$TMPD/z$mode" --name "z$mode$i"
        t1=$(now)
        virsh -q checkpoint-delete "$fsd" "z$mode$i" >/dev/null
        echo "b$mode $(echo "$t1 - $t0" | bc)" >> "$TMPD/t_z"
    done
    sync
    for mode in plain zstd; do
        [ $((i % 2)) -eq 1 ] || mode=$([ "$mode" = plain ] && echo zstd || echo plain)
        fresh "$TMPD/out-$mode"; sync
        t0=$(now)
        "$VCKPT" -q restore "$fsd" --repo "$TMPD/z$mode" --to "$TMPD/out-$mode" >/dev/null
        t1=$(now)
        echo "r$mode $(echo "$t1 - $t0" | bc)" >> "$TMPD/t_z"
    done
done
tz_plain=$(pick bplain 2 "$TMPD/t_z"); tz_zstd=$(pick bzstd 2 "$TMPD/t_z")
tr_plain=$(pick rplain 2 "$TMPD/t_z"); tr_zstd=$(pick rzstd 2 "$TMPD/t_z")
for mode in plain zstd; do
    qemu-img compare -q -f raw -F qcow2 "$fsimg" "$TMPD/out-$mode/vda.qcow2" ||
        fail "the restore of the $mode backup differs from the file system"
done
rm -rf "$TMPD/out-plain" "$TMPD/out-zstd"
zf_plain=$(lastfile "$fsd" "$TMPD/zplain"); zf_zstd=$(lastfile "$fsd" "$TMPD/zzstd")
qemu-img info --output=json "$zf_zstd" | jq -e '."format-specific".data."compression-type" == "zstd"' >/dev/null ||
    fail "the --compress backup is not zstd-compressed"
zs_plain=$(files_bytes "$zf_plain"); zs_zstd=$(files_bytes "$zf_zstd")
if [ -n "$have_vnb" ]; then
    # -l copy: no checkpoint (the domain's are vckpt's); size only.
    t0=$(now)
    vnb -d "$fsd" -l copy -z -o "$TMPD/zvnb"
    t1=$(now)
    tz_vnb=$(echo "$t1 - $t0" | bc)
    zs_vnb=$(files_bytes "$TMPD"/zvnb/*.data)
fi
rm -rf "$fsimg"

mib() { awk -v b="$1" 'BEGIN {printf "%.0f MiB", b / 1048576}'; }
per_gib() { awk -v c="$1" -v b="$2" -v g="$GIB" 'BEGIN {printf "%.2f", c / (b / g)}'; }
echo "full backup, 4 GiB disk with 1 GiB of data (median of $RUNS):"
echo "  vckpt backup --full --push        ${t_push} s   (file: $(mib "$b_push"))"
echo "  vckpt backup --full --pull        ${t_pull} s   $(ratio "$t_pull" "$t_push")x push's time (target <= 1.0x; file: $(mib "$b_pull"))"
if [ -n "$have_vnb" ]; then
    echo "  virtnbdbackup -l full             ${t_vnb} s   pull is $(ratio "$t_vnb" "$t_pull")x faster"
else
    echo "  virtnbdbackup                     skipped (not installed)"
fi
echo "QEMU CPU per GiB of data, full backup (median of $RUNS):"
echo "  QEMU of the domain: push $(per_gib "$cpu_push" "$GIB"), pull $(per_gib "$cpu_pull" "$GIB") CPU-s/GiB: pull costs it $(ratio "$cpu_pull" "$cpu_push")x push's"
echo "  vckpt and its children (the backup host's side): push $(per_gib "$own_push" "$GIB"), pull $(per_gib "$own_pull" "$GIB") CPU-s/GiB"
echo "incremental, 64 x 1 MiB scattered writes (median of $RUNS):"
echo "  vckpt --incremental --push        ${ti_push} s   (increment: $(mib "$bi_push"))"
echo "  vckpt --incremental --pull        ${ti_pull} s   $(ratio "$ti_pull" "$ti_push")x push's time (target <= 1.3x; increment: $(mib "$bi_pull"))"
if [ -n "$have_vnb" ]; then
    echo "  virtnbdbackup -l inc              ${ti_vnb} s   pull is $(ratio "$ti_vnb" "$ti_pull")x faster (target >= 4x)"
else
    echo "  virtnbdbackup                     skipped (not installed)"
fi
echo "zstd, ext4 of /usr files: $(mib "$data_bytes") of files, $(mib "$fs_used") of the 2 GiB image used (median of $RUNS):"
echo "  repository file, pull             $(mib "$zs_plain")"
echo "  repository file, --compress       $(mib "$zs_zstd")   $(ratio "$zs_zstd" "$zs_plain")x plain (target <= 0.4x)"
if [ -n "$have_vnb" ]; then
    echo "  virtnbdbackup -l copy -z (lz4)    $(mib "$zs_vnb")   zstd is $(awk -v a="$zs_zstd" -v b="$zs_vnb" 'BEGIN {printf "%.0f", (1 - a / b) * 100}')% smaller (target >= 15%; its time, once: ${tz_vnb} s)"
else
    echo "  virtnbdbackup --compress          skipped (not installed)"
fi
echo "  backup, pull                      ${tz_plain} s"
echo "  backup, --compress                ${tz_zstd} s   $(ratio "$tz_zstd" "$tz_plain")x plain (target <= 2.2x)"
echo "  restore of the plain backup       ${tr_plain} s"
echo "  restore of the compressed backup  ${tr_zstd} s   $(ratio "$tr_zstd" "$tr_plain")x plain (target <= 1.8x)"
echo "vckpt peak RSS (the largest of it and its qemu-storage-daemon), pull full:"
echo "  256 MiB of data: 1 GiB disk ${rss_1g} KiB, 4 GiB disk ${rss_4g} KiB ($(ratio "$rss_4g" "$rss_1g")x); 1 GiB of data on the 4 GiB disk ${rss_4g_1g} KiB"

# ---------------------------------------------------------------------
# remote, again (see above), after the local parts.
t_remote_last=$(remote_runs b)
mibs() { awk -v t="$1" 'BEGIN {printf "%.0f", 1024 / t}'; }
echo "remote pull over TLS, full of 1 GiB of data on a 4 GiB disk (median of $RUNS):"
echo "  vckpt -c qemu+tcp://... backup --full, first  ${t_remote_first} s   $(mibs "$t_remote_first") MiB/s of data (target >= 350)"
echo "  the same after the local parts      ${t_remote_last} s   $(mibs "$t_remote_last") MiB/s of data"
