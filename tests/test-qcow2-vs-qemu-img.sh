#!/usr/bin/env bash
# Compare what the qcow2 reader (lib/qcow2.c, run through the test helper
# qcow2-dump) sees in real images made by qemu-img with what
# `qemu-img info [--backing-chain] --output=json` reports: file names,
# formats, virtual sizes, backing names and formats, bitmaps (names,
# granularity, flags), corrupt and dirty flags.  Then the cases qemu-img
# itself refuses or does not follow: missing backing file, backing loop,
# protocol backing names, truncated and corrupted images.
#
# Environment: QCOW2_DUMP (default ./qcow2-dump).

set -e -x
if [ -f "${srcdir:-.}/functions.sh" ]; then
    . "${srcdir:-.}/functions.sh"
fi

command -v qemu-img || exit 77
command -v jq || exit 77

dump=${QCOW2_DUMP:-./qcow2-dump}
case $dump in /*) ;; *) dump=$PWD/$dump ;; esac
if [ ! -x "$dump" ]; then
    echo "$0: FAIL: $dump not built" >&2
    exit 1
fi

# functions.sh gives a private $TMPD removed on exit; otherwise make one.
if [ -z "${TMPD:-}" ]; then
    TMPD=$(mktemp -d "${TMPDIR:-/tmp}/test-qcow2.XXXXXX")
    trap 'rm -rf "$TMPD"' EXIT
fi
cd "$TMPD"
export LC_ALL=C

failures=0
die ()
{
    echo "$0: FAIL: $*" >&2
    exit 1
}

# field FILE KEY: the value of KEY= in a qcow2-dump output FILE.
field ()
{
    sed -n "s/^$2=//p" "$1"
}

# expect_eq WHAT EXPECTED ACTUAL
expect_eq ()
{
    if [ "$2" != "$3" ]; then
        echo "$0: FAIL: $1: qemu-img says '$2', qcow2-dump says '$3'" >&2
        failures=$((failures + 1))
    fi
}

# compare_images JSON_ARRAY_FILE DUMP_FILE N
#
# Compare images 0..N-1 of qemu-img's JSON array with qcow2-dump's output.
compare_images ()
{
    local json=$1 out=$2 n=$3 i q d
    for ((i = 0; i < n; i++)); do
        q=$(jq -r ".[$i].filename" "$json")
        expect_eq "image $i filename" "$q" "$(field "$out" image.$i.filename)"
        q=$(jq -r ".[$i].format" "$json")
        expect_eq "image $i format" "$q" "$(field "$out" image.$i.format)"
        q=$(jq -r ".[$i][\"virtual-size\"]" "$json")
        expect_eq "image $i virtual size" "$q" \
                  "$(field "$out" image.$i.virtual_size)"
        q=$(jq -r ".[$i][\"backing-filename\"] // \"\"" "$json")
        expect_eq "image $i backing file" "$q" \
                  "$(field "$out" image.$i.backing_file)"
        q=$(jq -r ".[$i][\"backing-filename-format\"] // \"\"" "$json")
        expect_eq "image $i backing format" "$q" \
                  "$(field "$out" image.$i.backing_format)"
        q=$(jq -r "if .[$i][\"format-specific\"].data.corrupt then 1 else 0 end" "$json")
        expect_eq "image $i corrupt" "$q" "$(field "$out" image.$i.corrupt)"
        q=$(jq -r "if .[$i][\"dirty-flag\"] then 1 else 0 end" "$json")
        expect_eq "image $i dirty" "$q" "$(field "$out" image.$i.dirty)"
        q=$(jq -r ".[$i][\"cluster-size\"] // 0" "$json")
        expect_eq "image $i cluster size" "$q" \
                  "$(field "$out" image.$i.cluster_size)"
        # Bitmaps, in directory order: name|granularity|flags.
        q=$(jq -r ".[$i][\"format-specific\"].data.bitmaps // [] | .[] |
                   \"\(.name)|\(.granularity)|\(.flags | join(\",\"))\"" "$json")
        d=$(n=$(field "$out" image.$i.bitmaps)
            for ((j = 0; j < ${n:-0}; j++)); do
                p=image.$i.bitmap.$j
                echo "$(field "$out" $p.name)|$(field "$out" $p.granularity)|$(field "$out" $p.flags)"
            done)
        expect_eq "image $i bitmaps" "$q" "$d"
    done
}

# compare IMAGE [notes-ok]
#
# The whole chain from qemu-img info --backing-chain against qcow2-dump.
# Unless notes-ok is given, the reader must have no notes or problems.
compare ()
{
    local img=$1 notes_ok=${2:-}
    qemu-img info --backing-chain --output=json "$img" > qemu.json
    "$dump" "$img" > dump.out
    cat dump.out
    expect_eq "$img: number of images" "$(jq length qemu.json)" \
              "$(field dump.out images)"
    expect_eq "$img: end of chain" complete "$(field dump.out end)"
    compare_images qemu.json dump.out "$(jq length qemu.json)"
    # A clean qemu-img image has no notes and no bitmap problems.
    if [ -z "$notes_ok" ] && grep -E '\.(note\.[0-9]+|problem)=.' dump.out; then
        echo "$0: FAIL: $img: unexpected notes or problems" >&2
        failures=$((failures + 1))
    fi
}

# compare_top IMAGE END [END_PATH]
#
# For chains qemu-img will not walk: the top image against plain qemu-img
# info (which does not open backing files), and how the walk ended.
compare_top ()
{
    local img=$1 end=$2
    qemu-img info --output=json "$img" | jq '[.]' > qemu.json
    "$dump" "$img" > dump.out
    cat dump.out
    compare_images qemu.json dump.out 1
    expect_eq "$img: end of chain" "$end" "$(field dump.out end)"
    if [ $# -ge 3 ]; then
        expect_eq "$img: end path" "$3" "$(field dump.out end_path)"
    fi
}

# both_fail IMAGE PATTERN [FORMAT]: qemu-img and qcow2-dump refuse IMAGE,
# qcow2-dump's message matching PATTERN.
both_fail ()
{
    local img=$1 pat=$2 f=()
    if [ -n "${3:-}" ]; then f=(-f "$3"); fi
    if qemu-img info "${f[@]}" "$img"; then
        echo "$0: FAIL: qemu-img accepted $img" >&2
        failures=$((failures + 1))
    fi
    if "$dump" "${f[@]}" "$img" > dump.out 2> dump.err; then
        echo "$0: FAIL: qcow2-dump accepted $img" >&2
        failures=$((failures + 1))
    fi
    cat dump.err
    if ! grep -E -q -e "$pat" dump.err; then
        echo "$0: FAIL: $img: error does not match '$pat'" >&2
        failures=$((failures + 1))
    fi
}

# poke FILE OFFSET HEXBYTES: overwrite bytes in place.
poke ()
{
    printf "$(echo "$3" | sed 's/../\\x&/g')" |
        dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# --- Plain images -------------------------------------------------------

qemu-img create -f qcow2 -o compat=0.10 v2.qcow2 64M
compare v2.qcow2
qemu-img create -f qcow2 v3.qcow2 1G
compare v3.qcow2
qemu-img create -f qcow2 -o cluster_size=512 v3-512.qcow2 100M
compare v3-512.qcow2
qemu-img create -f qcow2 -o cluster_size=2M v3-2m.qcow2 10G
compare v3-2m.qcow2
qemu-img create -f qcow2 -o extended_l2=on,cluster_size=128k v3-extl2.qcow2 1G
compare v3-extl2.qcow2
grep -q '^image.0.extended_l2=1$' dump.out || die "extended L2 not seen"
qemu-img create -f qcow2 -o lazy_refcounts=on,compression_type=zstd v3-opts.qcow2 1G
compare v3-opts.qcow2

# --- A chain of three: relative and absolute backing names -------------

mkdir -p sub
qemu-img create -f qcow2 base.qcow2 64M
qemu-img create -f qcow2 -b ../base.qcow2 -F qcow2 sub/mid.qcow2
qemu-img create -f qcow2 -b "$TMPD/sub/mid.qcow2" -F qcow2 top.qcow2
compare top.qcow2
expect_eq "chain length" 3 "$(field dump.out images)"
cd sub                               # the top named relative to elsewhere
compare ../top.qcow2
cd ..
compare sub/mid.qcow2

# A raw base.
qemu-img create -f raw base.raw 32M
qemu-img create -f qcow2 -b base.raw -F raw over-raw.qcow2
compare over-raw.qcow2
expect_eq "raw base format" raw "$(field dump.out image.1.format)"

# --- Bitmaps -------------------------------------------------------------

qemu-img create -f qcow2 bm.qcow2 1G
compare bm.qcow2
qemu-img bitmap --add bm.qcow2 b1
compare bm.qcow2
qemu-img bitmap --add -g 1M bm.qcow2 b2
qemu-img bitmap --add --disable -g 4k bm.qcow2 b3
qemu-img bitmap --add bm.qcow2 "name with spaces"
compare bm.qcow2
expect_eq "bitmaps" 4 "$(field dump.out image.0.bitmaps)"
qemu-img bitmap --remove bm.qcow2 b2
compare bm.qcow2
qemu-img bitmap --disable bm.qcow2 b1
qemu-img bitmap --enable bm.qcow2 b3
compare bm.qcow2
expect_eq "b1 disabled" "" "$(field dump.out image.0.bitmap.0.flags)"
expect_eq "b3 enabled" auto "$(field dump.out image.0.bitmap.1.flags)"
# Bitmaps in a backing file of the chain.
qemu-img create -f qcow2 -b bm.qcow2 -F qcow2 over-bm.qcow2
qemu-img bitmap --add over-bm.qcow2 top1
compare over-bm.qcow2

# In use: a QEMU process (qemu-nbd) that opened the image read-write and
# died without closing it leaves its bitmaps flagged in-use.
if command -v qemu-nbd; then
    cp bm.qcow2 inuse.qcow2
    qemu-nbd -k "$TMPD/nbd.sock" -f qcow2 inuse.qcow2 &
    nbd_pid=$!
    # Whether qemu-nbd flagged the bitmaps; fails the test if it ended.
    flagged_in_use ()
    {
        "$dump" inuse.qcow2 | grep -q '^image.0.bitmap.0.flags=in-use' && return 0
        kill -0 $nbd_pid 2>/dev/null || fail "qemu-nbd ended before it opened the image"
        return 1
    }
    wait_for 30 "qemu-nbd flagging the bitmaps in-use" flagged_in_use
    kill -9 $nbd_pid
    wait $nbd_pid || :
    rm -f nbd.sock
    compare inuse.qcow2
    expect_eq "in-use flags" "in-use in-use,auto in-use,auto" \
              "$(field dump.out 'image.0.bitmap.[0-9]*.flags' | xargs)"
fi

# The bitmaps autoclear bit cleared (as by a program without bitmap
# support): qemu-img ignores the bitmaps, and so does the reader.
cp bm.qcow2 autoclear.qcow2
poke autoclear.qcow2 95 00
compare autoclear.qcow2 notes-ok
expect_eq "inconsistent bitmaps" "0 0" \
          "$(field dump.out image.0.bitmaps_consistent) $(field dump.out image.0.bitmaps)"
grep -q '^image.0.note.0=bitmaps extension is present but' dump.out ||
    die "no note for the autoclear bit"

# --- The data an image holds itself (vk_image_data_bytes) --------------
# Against qemu-img map (the extents of depth 0 that hold data) and
# qemu-img check (compressed clusters): plain, compressed (zlib and zstd),
# zero clusters, extended L2 subclusters, a partial last cluster, version
# 2, and an overlay.

data_same ()
{
    local img=$1 want_data want_comp
    want_data=$(qemu-img map --output=json "$img" |
                jq '[.[] | select(.depth == 0 and .data) | .length] | add // 0')
    want_comp=$(qemu-img check --output=json "$img" | jq '."compressed-clusters" // 0')
    "$dump" "$img" > dump.out
    expect_eq "$img: data" "$want_data" "$(field dump.out image.0.data)"
    expect_eq "$img: compressed clusters" "$want_comp" \
              "$(field dump.out image.0.compressed_clusters)"
}

qemu-img create -f qcow2 d-plain.qcow2 10M
qemu-io -f qcow2 -c 'write -P 1 0 3M' -c 'write -z 1M 512k' -c 'write -P 2 9M 64k' \
    d-plain.qcow2
data_same d-plain.qcow2
for t in zlib zstd; do
    qemu-img create -f qcow2 -o compression_type=$t d-$t.qcow2 10M
    qemu-io -f qcow2 -c 'write -c -P 3 0 2M' -c 'write -P 4 4M 1M' -c 'write -z 1M 128k' \
        d-$t.qcow2
    data_same d-$t.qcow2
done
qemu-img create -f qcow2 -o extended_l2=on,cluster_size=128k d-extl2.qcow2 4M
qemu-io -f qcow2 -c 'write -P 5 0 8k' -c 'write -P 6 1M 300k' -c 'write -z 1040k 4k' \
    d-extl2.qcow2
data_same d-extl2.qcow2
qemu-img create -f qcow2 -o cluster_size=2M d-tail.qcow2 5000k
qemu-io -f qcow2 -c 'write -P 7 4M 904k' d-tail.qcow2
data_same d-tail.qcow2
qemu-img create -f qcow2 -o compat=0.10 d-v2.qcow2 8M
qemu-io -f qcow2 -c 'write -P 8 64k 1M' -c 'write -c -P 9 4M 1M' d-v2.qcow2
data_same d-v2.qcow2
qemu-img create -f qcow2 -b d-zstd.qcow2 -F qcow2 d-over.qcow2
qemu-io -f qcow2 -c 'write -P 10 3M 2M' -c 'write -z 0 64k' d-over.qcow2
data_same d-over.qcow2
qemu-img create -f qcow2 d-empty.qcow2 1G
data_same d-empty.qcow2

# --- Chains qemu-img will not walk ---------------------------------------

# Missing backing file: not an error for the reader, the chain is cut.
qemu-img create -f qcow2 -u -b nonexistent.qcow2 -F qcow2 missing.qcow2 64M
if qemu-img info --backing-chain missing.qcow2; then
    die "qemu-img followed a missing backing file"
fi
compare_top missing.qcow2 missing nonexistent.qcow2
cd sub
compare_top ../missing.qcow2 missing ../nonexistent.qcow2
cd ..

# A loop: a -> b -> a.
qemu-img create -f qcow2 a.qcow2 64M
qemu-img create -f qcow2 -b a.qcow2 -F qcow2 b.qcow2
qemu-img rebase -u -b b.qcow2 -F qcow2 a.qcow2
if qemu-img info --backing-chain a.qcow2; then
    die "qemu-img followed a backing loop"
fi
compare_top a.qcow2 loop a.qcow2
expect_eq "loop images" 2 "$(field dump.out images)"
expect_eq "loop index" 0 "$(field dump.out loop_index)"
# The same loop through another name (a symlink): found by inode.
ln -s a.qcow2 link.qcow2
qemu-img rebase -u -b link.qcow2 -F qcow2 b.qcow2
compare_top a.qcow2 loop link.qcow2

# Protocol and json: backing names are not followed.
qemu-img create -f qcow2 -u -b 'nbd+unix:///exp?socket=/nonexistent' -F raw nbd.qcow2 64M
compare_top nbd.qcow2 unsupported 'nbd+unix:///exp?socket=/nonexistent'
qemu-img create -f qcow2 -u -b 'json:{"file":{"driver":"file","filename":"base.raw"}}' -F raw json.qcow2 64M
compare_top json.qcow2 unsupported 'json:{"file":{"driver":"file","filename":"base.raw"}}'

# A backing file of the wrong declared format.
qemu-img create -f qcow2 -u -b base.raw -F qcow2 wrongfmt.qcow2 32M
compare_top wrongfmt.qcow2 error base.raw
grep -q '^end_detail=not a qcow2 image' dump.out || die "end_detail"

# --- Truncated and corrupted images --------------------------------------

# Truncated inside the tables: QEMU reads zeros past the end and still
# opens it; the reader notes the truncation.
cp v3.qcow2 trunc-tables.qcow2
truncate -s 100000 trunc-tables.qcow2
qemu-img info --output=json trunc-tables.qcow2 | jq '[.]' > qemu.json
"$dump" trunc-tables.qcow2 > dump.out
compare_images qemu.json dump.out 1
grep -q 'extends past end of file (size 100000): the image is truncated' dump.out ||
    die "no truncation note"

# Truncated before the bitmap directory, and inside the header.
cp bm.qcow2 trunc-bm.qcow2
truncate -s 300000 trunc-bm.qcow2
both_fail trunc-bm.qcow2 'bitmap directory at offset 0x[0-9a-f]+ \([0-9]+ bytes\) extends past end of file \(size 300000\)'
cp v3.qcow2 trunc-hdr.qcow2
truncate -s 90 trunc-hdr.qcow2
both_fail trunc-hdr.qcow2 'truncated qcow2 version 3 header' qcow2

# The corrupt bit: qemu-img info still opens the image (read-only).
cp top.qcow2 corrupt.qcow2
poke corrupt.qcow2 79 02
compare corrupt.qcow2
expect_eq "corrupt" 1 "$(field dump.out image.0.corrupt)"

# Broken magic: both probe it as raw; as qcow2 both refuse it.
cp v3.qcow2 nomagic.qcow2
poke nomagic.qcow2 0 00000000
compare nomagic.qcow2
expect_eq "probed raw" raw "$(field dump.out image.0.format)"
both_fail nomagic.qcow2 'not a qcow2 image' qcow2

# Nonsense header fields.
cp v3.qcow2 bad-cluster.qcow2
poke bad-cluster.qcow2 20 0000001e
both_fail bad-cluster.qcow2 'unsupported cluster size: 2\^30'
cp top.qcow2 bad-backing-len.qcow2
poke bad-backing-len.qcow2 16 000007d0
both_fail bad-backing-len.qcow2 'backing file name too long'
cp v3.qcow2 bad-version.qcow2
poke bad-version.qcow2 4 00000004
both_fail bad-version.qcow2 'unsupported qcow2 version 4'
cp v3.qcow2 bad-ext.qcow2
poke bad-ext.qcow2 112 12345678ffffff00
both_fail bad-ext.qcow2 'goes past the end of the extension area'
# A bitmap with reserved flags: qemu-img refuses the image, the reader
# reports the bitmap's problem.
cp bm.qcow2 bad-flags.qcow2
"$dump" bm.qcow2 > dump.out
dir=$(field dump.out image.0.bitmap_directory_offset)
[ -n "$dir" ] && [ "$dir" -gt 0 ] || die "bitmap directory offset"
poke bad-flags.qcow2 $((dir + 12)) 00000006
if qemu-img info bad-flags.qcow2; then die "qemu-img accepted reserved flags"; fi
"$dump" bad-flags.qcow2 > dump.out
cat dump.out
grep -q '^image.0.bitmap.0.problem=has reserved flags set (0x4)$' dump.out ||
    die "reserved flags not reported"

if [ "$failures" -ne 0 ]; then
    echo "$0: $failures mismatch(es)" >&2
    exit 1
fi
echo "$0: qcow2 reader agrees with qemu-img"
