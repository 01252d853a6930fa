#!/usr/bin/env bash
# Benchmark (issue: preflight validator): validating a chain of 50 qcow2
# images with 20 bitmaps each.
#   vckpt validate DOMAIN --checkpoint b01   (the real command: libvirt
#       connection, checkpoint metadata, chain read, all the rules; the 20
#       bitmaps are all checked, since libvirt merges b01..b20)
#   vckpt --json bitmaps TOP                 (the chain read alone)
# against the peer way of doing it:
#   qemu-img info --backing-chain --output=json TOP | jq RULES
# Each command runs RUNS times; the median wall time of each is reported and
# the ratios are printed.  Memory: vckpt's peak RSS validating the same
# chain shape with 1 GiB and 1 TiB virtual disks.
#
# Run from the build tree: bench/bench-validate.sh (needs root, as the tests).
set -e
RUNS=${RUNS:-30}   # short runs: more of them
. "$(dirname "$0")/bench-lib.sh"
NIMG=50
NBMP=20

lab_start >/dev/null
make_chain() {   # make_chain DIR SIZE
    local dir=$1 size=$2 prev= i b
    mkdir -p "$dir"
    for i in $(seq -w 1 $NIMG); do
        if [ -z "$prev" ]; then qemu-img create -q -f qcow2 "$dir/img$i.qcow2" "$size"
        else qemu-img create -q -f qcow2 -b "img$prev.qcow2" -F qcow2 "$dir/img$i.qcow2" "$size"; fi
        for b in $(seq -w 1 $NBMP); do qemu-img bitmap --add "$dir/img$i.qcow2" "b$b"; done
        prev=$i
    done
}
make_chain "$TMPD/g1" 1G
make_chain "$TMPD/t1" 1T
top=$TMPD/g1/img$NIMG.qcow2

# A shut-off domain on the chain, with checkpoints b01..b20 redefined.
define_dom() {   # define_dom NAME TOP
    cat > "$TMPD/$1.xml" <<XML
<domain type='qemu'><name>$1</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='$2'/><target dev='vda' bus='virtio'/></disk>
<memballoon model='none'/></devices></domain>
XML
    virsh -q define "$TMPD/$1.xml" >/dev/null
    virsh dumpxml --inactive "$1" > "$TMPD/$1.full.xml"   # with its uuid
    local parent= b t=1700000000
    for b in $(seq -w 1 $NBMP); do
        { echo "<domaincheckpoint><name>b$b</name>"
          [ -z "$parent" ] || echo "<parent><name>$parent</name></parent>"
          echo "<creationTime>$((t + 10#$b))</creationTime><disks><disk name='vda' checkpoint='bitmap' bitmap='b$b'/></disks>"
          cat "$TMPD/$1.full.xml"; echo "</domaincheckpoint>"; } > "$TMPD/ck$b.xml"
        parent=b$b
    done
    "$VCKPT" -q checkpoint redefine "$1" "$TMPD"/ck*.xml >/dev/null
}
define_dom bench1 "$top"
define_dom bench2 "$TMPD/t1/img$NIMG.qcow2"

rules='
  ([range(1; 21)] | map("b" + (if . < 10 then "0" else "" end) + tostring)) as $names
  | [ .[] | [ (."format-specific".data.bitmaps // [])[] | {key: .name, value: .flags} ] | from_entries ] as $imgs
  | [ $names[] as $n
      | [ $imgs[] | .[$n] ] as $col
      | ([range(0; $col | length) | select($col[.] != null)] | max // -1) as $low
      | { bitmap: $n,
          missing_top: ($col[0] == null),
          gap: ([range(0; $low + 1) | select($col[.] == null)] | length > 0),
          disabled: ([ $col[] | select(. != null) | select(index("auto") | not) ] | length > 0),
          inconsistent: ([ $col[] | select(. != null) | select(index("in-use")) ] | length > 0) }
      | select(.missing_top or .gap or .disabled or .inconsistent) ]
  | if length == 0 then "OK" else . end'

# Both sides must reach the same verdict before anything is timed.
test "$(qemu-img info --backing-chain --output=json "$top" | jq -r "$rules")" = OK
"$VCKPT" validate bench1 --checkpoint b01 | grep -q '^OK: '

median_ms() {   # median_ms CMD...: median wall time of RUNS runs, in ms
    local i t0 t1 ts=()
    for ((i = 0; i < RUNS; i++)); do
        t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N)
        ts+=($(( (t1 - t0) / 1000 )))
    done
    printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]/1000}'
}
peer() { qemu-img info --backing-chain --output=json "$top" | jq -r "$rules"; }
t_peer=$(median_ms peer)
t_validate=$(median_ms "$VCKPT" validate bench1 --checkpoint b01)
t_bitmaps=$(median_ms "$VCKPT" --json bitmaps "$top")
t_start=$(median_ms "$VCKPT" --version)

rss() { /usr/bin/time -f %M "$VCKPT" validate "$1" --checkpoint b01 2>&1 >/dev/null | tail -1; }
rss_1g=$(rss bench1)
rss_1t=$(rss bench2)

echo "chain: $NIMG images x $NBMP bitmaps; median of $RUNS runs"
echo "qemu-img info --backing-chain + jq rules : $t_peer ms"
echo "vckpt validate (libvirt + chain + rules) : $t_validate ms   ratio $(echo "$t_peer $t_validate" | awk '{printf "%.1fx", $1/$2}')"
echo "vckpt --json bitmaps (chain read)        : $t_bitmaps ms   ratio $(echo "$t_peer $t_bitmaps" | awk '{printf "%.1fx", $1/$2}')"
echo "vckpt --version (process start-up alone) : $t_start ms"
echo "peer vs vckpt work beyond start-up       : ratio $(echo "$t_peer $t_validate $t_start" | awk '{printf "%.1fx", $1/($2-$3)}')"
echo "vckpt validate peak RSS: 1 GiB disks $rss_1g KiB, 1 TiB disks $rss_1t KiB"
