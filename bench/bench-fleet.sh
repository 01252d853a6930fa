#!/usr/bin/env bash
# Benchmark (issue: many domains, memory), one run, ratios printed:
#   backup:   vckpt backup --all --full --jobs 2 of 8 running domains (256 MiB
#             disks, 64 MiB written to each) against 8 vckpt backup DOM --full
#             runs one after another; fresh repositories each round, the
#             checkpoints removed between rounds
#   validate: vckpt validate --all of 20 running domains, each with a
#             checkpoint, in one process, against 20 vckpt validate DOM runs
#   memory:   peak RSS of validate --all with 1 and with 20 domains (one
#             process), of backup --all --full --jobs 2 with 1 and with 8
#             domains and of one vckpt backup DOM --full (peak_rss: the
#             largest of the process and each child it waited for, so for
#             backup --all the larger of the parent and its largest
#             per-domain child)
# Each time is the median of RUNS runs (default 3).  Needs root (the lab).
set -e
. "$(dirname "$0")/bench-lib.sh"

lab_start >/dev/null
names () { local p=$1 i; for (( i = $2; i <= $3; i++ )); do printf '%s%02d ' "$p" "$i"; done; }
B=$(names b 1 8)          # backed up (and validated)
V=$(names v 9 20)         # validated only
rm_checkpoints ()
{
    local d c
    for d in "$@"; do
        for c in $(virsh -q checkpoint-list "$d" --name); do
            virsh -q checkpoint-delete "$d" "$c" >/dev/null
        done
    done
}
start_domains ()  # SIZE WRITTEN NAME...
{
    local size=$1 written=$2 d
    shift 2
    for d in "$@"; do
        lab_domain_define "$d" --disk "$size" >/dev/null
        lab_domain_start "$d" >/dev/null
        [ "$written" = 0 ] || lab_write "$d" vda 0x5a 0 "$written" >/dev/null
    done
}

# One domain running: the memory of runs over one domain.
start_domains 256M 64M b01
virsh -q checkpoint-create-as b01 rss >/dev/null
rss_val_1=$(peak_rss "$VCKPT" validate --all)
rm_checkpoints b01
rss_bak_1=$(peak_rss "$VCKPT" -q backup --all --full --jobs 2 --repo "$TMPD/rss1")
rss_bak_one=$(peak_rss "$VCKPT" -q backup b01 --full --repo "$TMPD/rss0")
rm -rf "$TMPD/rss1" "$TMPD/rss0"
rm_checkpoints b01

# Eight domains: backup --all --jobs 2 against eight backups in a row.
# shellcheck disable=SC2046
start_domains 256M 64M $(names b 2 8)
for i in $(seq "$RUNS"); do
    t0=$(now)
    "$VCKPT" -q backup --all --full --jobs 2 --repo "$TMPD/all" >/dev/null
    t1=$(now)
    # shellcheck disable=SC2086
    rm_checkpoints $B
    for d in $B; do "$VCKPT" -q backup "$d" --full --repo "$TMPD/seq" >/dev/null; done
    t2=$(now)
    # shellcheck disable=SC2086
    rm_checkpoints $B
    # The same bytes both ways.
    a=$(du -sb "$TMPD/all" | cut -f1); s=$(du -sb "$TMPD/seq" | cut -f1)
    [ "$(vckpt --json list-backups b08 --repo "$TMPD/all" | jq '.backups | length')" = 1 ] || {
        echo "backup --all did not back up b08" >&2; exit 1; }
    rm -rf "$TMPD/all" "$TMPD/seq"
    echo "$(echo "$t1 - $t0" | bc) $(echo "$t2 - $t1" | bc) $a $s"
done > "$TMPD/t_backup"
sec () { printf '%.2f' "$1"; }
t_all=$(sec "$(awk '{print $1}' "$TMPD/t_backup" | median)")
t_seq=$(sec "$(awk '{print $2}' "$TMPD/t_backup" | median)")
bytes_all=$(awk 'NR == 1 {print $3}' "$TMPD/t_backup")
bytes_seq=$(awk 'NR == 1 {print $4}' "$TMPD/t_backup")
rss_bak_8=$(peak_rss "$VCKPT" -q backup --all --full --jobs 2 --repo "$TMPD/rss8")
rm -rf "$TMPD/rss8"
# shellcheck disable=SC2086
rm_checkpoints $B

# Twenty domains, each with a checkpoint: validate --all against 20 runs.
# shellcheck disable=SC2086
start_domains 16M 0 $V
for d in $B $V; do virsh -q checkpoint-create-as "$d" c1 >/dev/null; done
n=$("$VCKPT" --json validate --all | jq '[.[] | select(.exit == 0 and .result.checkpoint == "c1")] | length')
[ "$n" = 20 ] || { echo "validate --all: $n of 20 domains valid from c1" >&2; exit 1; }
for i in $(seq "$RUNS"); do
    t0=$(now)
    "$VCKPT" -q validate --all >/dev/null
    t1=$(now)
    for d in $B $V; do "$VCKPT" -q validate "$d" >/dev/null; done
    t2=$(now)
    echo "$(echo "$t1 - $t0" | bc) $(echo "$t2 - $t1" | bc)"
done > "$TMPD/t_validate"
t_vall=$(sec "$(awk '{print $1}' "$TMPD/t_validate" | median)")
t_vseq=$(sec "$(awk '{print $2}' "$TMPD/t_validate" | median)")
rss_val_20=$(peak_rss "$VCKPT" validate --all)

echo "backup of 8 domains (256 MiB disks, 64 MiB written each; full; median of $RUNS):"
echo "  8 x vckpt backup DOM, in a row       ${t_seq} s   ($bytes_seq bytes in the repository)"
echo "  vckpt backup --all --jobs 2          ${t_all} s   ($bytes_all bytes)   $(ratio "$t_seq" "$t_all")x faster"
echo "validate of 20 running domains, each from its checkpoint (median of $RUNS):"
echo "  20 x vckpt validate DOM              ${t_vseq} s"
echo "  vckpt validate --all (one process)   ${t_vall} s   $(ratio "$t_vseq" "$t_vall")x faster"
echo "vckpt peak RSS (KiB): validate --all, 1 domain ${rss_val_1}, 20 domains ${rss_val_20} ($(ratio "$rss_val_20" "$rss_val_1")x)"
echo "vckpt peak RSS (KiB, the larger of the parent and its largest child): backup --all --jobs 2, 1 domain ${rss_bak_1}, 8 domains ${rss_bak_8} ($(ratio "$rss_bak_8" "$rss_bak_1")x); one vckpt backup DOM ${rss_bak_one}"
