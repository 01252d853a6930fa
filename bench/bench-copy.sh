#!/usr/bin/env bash
# Benchmark (issue 22: second copies), ratios printed.  A domain with a
# 4 GiB disk holding 1 GiB of data, then a full backup and 10 "daily"
# incrementals (backup --auto, push), each of 64 x 1 MiB scattered writes,
# into a repository R:
#   copy:    vckpt copy of the domain's whole repository into an empty
#            directory against cp -a and rsync -a of R/DOMAIN (the limit;
#            and cp -a followed by a sync of its file system, as vckpt
#            syncs what it writes); the copy's files are R's, checked once
#   restic:  vckpt copy into a restic repository after each backup (11
#            snapshots): its size (du -sb) against R's (deduplication and
#            compression at work), and the time of those copies
#   restore: vckpt restore --latest from the restic repository against the
#            same restore from R; both outputs compared with the domain's
#            disk once
# The guest data is not a repeated byte (that deduplicates and compresses
# to nothing): it is a tar stream of /usr (binaries, libraries, text),
# written through QEMU's block layer (lab_write with a file); each
# incremental writes the next 64 MiB of that stream.
# Each time is the median of RUNS runs (default 3), each into a fresh
# destination, the tools interleaved (their order rotated) so that each
# sees the same machine state (caches cannot be dropped here).  Needs root
# (the lab) and restic; without rsync its comparison is skipped.
# Smaller sizes for a quick check: BENCH_SMALL=1 (a 256 MiB disk holding
# 64 MiB, 3 incrementals of 8 MiB), or DISK_MIB, DATA_MIB, INCS and
# INC_MIB one by one.
set -e
. "$(dirname "$0")/bench-lib.sh"
requires_root
requires restic version
requires bc --version
have_rsync=1
rsync --version >/dev/null 2>&1 || have_rsync=

if [ -n "${BENCH_SMALL:-}" ]; then
    : "${DISK_MIB:=256}" "${DATA_MIB:=64}" "${INCS:=3}" "${INC_MIB:=8}"
fi
DISK_MIB=${DISK_MIB:-4096}
DATA_MIB=${DATA_MIB:-1024}
INCS=${INCS:-10}
INC_MIB=${INC_MIB:-64}
[ $((DATA_MIB % 4)) -eq 0 ] && [ "$DATA_MIB" -le "$DISK_MIB" ] &&
    [ "$INC_MIB" -le $((DISK_MIB / 2)) ] ||
    fail "DATA_MIB must be a multiple of 4 and fit the disk, INC_MIB at most half of it"

# The data: a tar stream of /usr, cut into the four quarters of the
# initial data and one file per 1 MiB write of the incrementals, readable
# by QEMU's user (lab_write reads them in QEMU).
src=$TMPD/src
mkdir -m 0711 "$src"
tar -C / -cf - usr 2>/dev/null | head -c $(( (DATA_MIB + INCS * INC_MIB) * 1048576 )) > "$src/all" || true
[ "$(stat -c %s "$src/all")" -eq $(( (DATA_MIB + INCS * INC_MIB) * 1048576 )) ] ||
    fail "/usr holds less than $((DATA_MIB + INCS * INC_MIB)) MiB"
head -c $((DATA_MIB * 1048576)) "$src/all" | split -b $((DATA_MIB / 4 * 1048576)) -d -a 1 - "$src/base."
tail -c +$((DATA_MIB * 1048576 + 1)) "$src/all" | split -b 1048576 -d -a 5 - "$src/inc."
rm "$src/all"
chmod 0644 "$src"/*

lab_start >/dev/null
dom=bench
R=$TMPD/repo
lab_domain_define "$dom" --disk "${DISK_MIB}M" --memory 128 >/dev/null
lab_domain_start "$dom" >/dev/null
for i in 0 1 2 3; do
    lab_write "$dom" 0 "$src/base.$i" $((i * DISK_MIB / 4))M $((DATA_MIB / 4))M >/dev/null
done

export RESTIC_CACHE_DIR=$TMPD/restic-cache
RR=$TMPD/restic
RP=$TMPD/restic.pw
echo "the password of vckpt's copy benchmark" > "$RP"
chmod 0600 "$RP"
restic --repo "$RR" --password-file "$RP" init -q >/dev/null

# The chain, each backup copied into restic right after (timed).
bk() { "$VCKPT" -q backup "$dom" --auto --push --repo "$R" >/dev/null; }
to_restic() {
    local t0
    t0=$(now)
    "$VCKPT" -q copy "$dom" --repo "$R" --to "restic:$RR" --password-file "$RP" >/dev/null
    echo "$(now) - $t0" | bc
}
bk
t_rfull=$(to_restic)
: > "$TMPD/t_rinc"
stride=$((DISK_MIB / INC_MIB))
for k in $(seq "$INCS"); do
    for j in $(seq 0 $((INC_MIB - 1))); do
        lab_write "$dom" 0 "$src/inc.$(printf %05d $(( (k - 1) * INC_MIB + j )))" \
                  $(( (j * stride + k) % (DISK_MIB - 1) ))M 1M >/dev/null
    done
    bk
    to_restic >> "$TMPD/t_rinc"
done
rm -rf "$src"
t_rinc=$(median < "$TMPD/t_rinc")
links=$("$VCKPT" --json list-backups "$dom" --repo "$R" | jq '.backups | length')
levels=$("$VCKPT" --json list-backups "$dom" --repo "$R" | jq -r '[.backups[].level] | unique | join(",")')
snaps=$(restic --repo "$RR" --password-file "$RP" snapshots --json | jq length)
[ "$snaps" -eq $((INCS + 1)) ] || fail "restic holds $snaps snapshots, expected $((INCS + 1))"
r_bytes=$(du -sb "$R" | cut -f1)
rr_bytes=$(du -sb "$RR" | cut -f1)
# The domain's disk as the guest left it: the reference for the restores.
lab_domain_stop "$dom" >/dev/null
ref=$(lab_disk_path "$dom" vda)

# Whole-repository copies: vckpt copy into a directory that does not
# exist yet (it makes it), cp -a and rsync -a of the domain's directory
# into an empty one.
tools=(vckpt cp cpsync)
[ -z "$have_rsync" ] || tools+=(rsync)
copy_with() {
    case $1 in
        vckpt) "$VCKPT" -q copy "$dom" --repo "$R" --to "$TMPD/dest" >/dev/null ;;
        cp) mkdir "$TMPD/dest"; cp -a "$R/$dom" "$TMPD/dest/" ;;
        cpsync) mkdir "$TMPD/dest"; cp -a "$R/$dom" "$TMPD/dest/"; sync -f "$TMPD/dest" ;;
        rsync) mkdir "$TMPD/dest"; rsync -a "$R/$dom" "$TMPD/dest/" ;;
    esac
}
sums() { (cd "$1" && find . -type f -name '*.qcow2' -print0 | sort -z | xargs -0 sha256sum); }
sums "$R/$dom" > "$TMPD/sums-repo"
n=${#tools[@]}
for i in $(seq "$RUNS"); do
    for s in $(seq 0 $((n - 1))); do
        tool=${tools[$(( (s + i) % n ))]}
        rm -rf "$TMPD/dest"; sync
        t0=$(now)
        copy_with "$tool"
        t1=$(now)
        echo "$tool $(echo "$t1 - $t0" | bc)" >> "$TMPD/t_copy"
        if [ "$tool" = vckpt ] && [ "$i" = 1 ]; then
            # A benchmark of a wrong copy is worthless: the same backups,
            # the same files byte for byte.
            sums "$TMPD/dest/$dom" | cmp -s - "$TMPD/sums-repo" ||
                fail "vckpt copy: the copy's files are not the repository's"
            [ "$("$VCKPT" --json list-backups "$dom" --repo "$TMPD/dest" | jq '.backups | length')" = "$links" ] ||
                fail "vckpt copy: the copy does not list the $links backups"
        fi
    done
done
rm -rf "$TMPD/dest"
pick() { awk -v m="$1" '$1 == m {print $2}' "$TMPD/t_copy" | median; }
tc_vckpt=$(pick vckpt); tc_cp=$(pick cp); tc_cpsync=$(pick cpsync)
[ -z "$have_rsync" ] || tc_rsync=$(pick rsync)

# Restores of the newest point: from restic and from R, order alternated.
restore_from() {
    mkdir "$TMPD/out-$1"
    if [ "$1" = restic ]; then
        "$VCKPT" -q restore "$dom" --from "restic:$RR" --password-file "$RP" --latest \
                 --to "$TMPD/out-$1" >/dev/null
    else
        "$VCKPT" -q restore "$dom" --repo "$R" --latest --to "$TMPD/out-$1" >/dev/null
    fi
}
for i in $(seq "$RUNS"); do
    for from in repo restic; do
        [ $((i % 2)) -eq 1 ] || from=$([ "$from" = repo ] && echo restic || echo repo)
        rm -rf "$TMPD/out-$from"; sync
        t0=$(now)
        restore_from "$from"
        t1=$(now)
        echo "$from $(echo "$t1 - $t0" | bc)" >> "$TMPD/t_restore"
    done
done
for from in repo restic; do
    qemu-img compare -q "$ref" "$TMPD/out-$from/vda.qcow2" ||
        fail "the restore from $from differs from the domain's disk"
done
rm -rf "$TMPD/out-repo" "$TMPD/out-restic"
pickr() { awk -v m="$1" '$1 == m {print $2}' "$TMPD/t_restore" | median; }
tr_repo=$(pickr repo); tr_restic=$(pickr restic)

mib() { awk -v b="$1" 'BEGIN {printf "%.0f MiB", b / 1048576}'; }
echo "repository: $links backups ($levels) of a ${DISK_MIB} MiB disk, ${DATA_MIB} MiB of /usr data + $INCS x $INC_MIB x 1 MiB scattered, $(mib "$r_bytes")"
echo "whole-repository copy into an empty directory (median of $RUNS):"
echo "  cp -a                              ${tc_cp} s"
echo "  cp -a + sync                       ${tc_cpsync} s"
if [ -n "$have_rsync" ]; then
    echo "  rsync -a                           ${tc_rsync} s"
else
    echo "  rsync -a                           skipped (not installed)"
fi
echo "  vckpt copy                         ${tc_vckpt} s   $(ratio "$tc_vckpt" "$tc_cp")x cp -a, $(ratio "$tc_vckpt" "$tc_cpsync")x cp -a + sync${have_rsync:+, $(ratio "$tc_vckpt" "${tc_rsync:-1}")x rsync -a}"
echo "restic, a vckpt copy after each backup ($snaps snapshots):"
echo "  repository R                       $(mib "$r_bytes")"
echo "  restic repository                  $(mib "$rr_bytes")   $(ratio "$rr_bytes" "$r_bytes")x R's size"
echo "  copy time: after the full ${t_rfull} s, after an incremental ${t_rinc} s (median of $INCS)"
echo "restore --latest (median of $RUNS):"
echo "  vckpt restore --repo R             ${tr_repo} s"
echo "  vckpt restore --from restic:       ${tr_restic} s   $(ratio "$tr_restic" "$tr_repo")x the local restore"
