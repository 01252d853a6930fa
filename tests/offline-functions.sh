# vckpt test suite: shared setup of the offline backup scenarios
# (test-backup-offline-*.sh, one scenario per file).
#
# Usage, at the top of a scenario:
#
#   #!/usr/bin/env bash
#   . "${srcdir:-.}/offline-functions.sh"
#   set -e -x
#   offline_setup [--disk SIZE | --raw-disk SIZE]... [--small-fs]
#
# offline_setup starts a lab with the domain $dom ("off": by default vda
# 64 MiB and vdb 32 MiB, qcow2; --raw-disk makes one raw), shut off, and an
# empty model image $TMPD/model-vdX.qcow2 of each disk.  --small-fs mounts
# a 48 MiB tmpfs on $TMPD/small first (before the lab, so QEMU sees the
# same one).  The repository is $R.  Guest data can only be written while
# the domain runs (dirty bitmaps must see it): put starts the domain if
# needed, writes to the guest and the model; off stops it gracefully.
#
# Functions:
#   put DISK PATTERN OFFSET LENGTH   guest write (domain started if shut
#                                    off) and the same write into the model;
#                                    PATTERN a byte (0xab) or "zero"
#   off                              stop the domain gracefully, wait
#   snap N                           keep the models as point N
#   restored_ok CHECKPOINT N         restore at CHECKPOINT and compare every
#                                    disk with the models of point N
#   bitmap_sound DISK NAME           the top image of DISK has bitmap NAME,
#                                    flags "auto" exactly (recording, stored
#                                    cleanly)
#   no_bitmap DISK NAME              it does not have it
#   in_use_none                      no bitmap of any disk is in-use
#   start_backup ARGS...             the binary in the background (stdout
#                                    $TMPD/o, stderr $TMPD/e), sets $pid
#   (wait_stopped PID: functions.sh)
#                                    (VCKPT_TEST_HOOK), fail if it ended
#   qsd_of PID                       the pid of PID's qemu-storage-daemon
#   nbackups, checkpoints, disk_files as in faults-functions.sh

. "${srcdir:-.}/functions.sh"
requires_root
# rolled_back asks fuser (psmisc) whether a process still holds a disk:
# without it that check would pass whatever holds them.
requires fuser -V
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom=off
R=$TMPD/repo
disks=()

offline_setup ()
{
    local sizes=() a=()
    while [ $# -gt 0 ]; do
        case $1 in
            --disk) sizes+=("$2"); shift 2 ;;
            --raw-disk) sizes+=("raw:$2"); shift 2 ;;
            --small-fs)
                mkdir "$TMPD/small"
                mount -t tmpfs -o size=48M,mode=0755 tmpfs "$TMPD/small"
                cleanup_fn umount -l "$TMPD/small"
                shift ;;
            *) fail "offline_setup: unknown option $1" ;;
        esac
    done
    [ ${#sizes[@]} -gt 0 ] || sizes=(64M 32M)
    lab_start
    local i t
    for (( i = 0; i < ${#sizes[@]}; i++ )); do
        t=vd$(printf "\\x$(printf %x $((97 + i)))")
        disks+=("$t")
        case ${sizes[$i]} in
            raw:*) a+=(--raw-disk "${sizes[$i]#raw:}") ;;
            *) a+=(--disk "${sizes[$i]}") ;;
        esac
        qemu-img create -q -f qcow2 "$TMPD/model-$t.qcow2" "${sizes[$i]#raw:}"
    done
    lab_domain_define "$dom" "${a[@]}"
}

put ()
{
    [ "$(lab_domain_state "$dom")" = running ] || lab_domain_start "$dom"
    lab_write "$dom" "$1" "$2" "$3" "$4"
    if [ "$2" = zero ]; then
        qemu-io -f qcow2 -c "write -z $3 $4" "$TMPD/model-$1.qcow2" >/dev/null
    else
        qemu-io -f qcow2 -c "write -P $2 $3 $4" "$TMPD/model-$1.qcow2" >/dev/null
    fi
}

off ()
{
    [ "$(lab_domain_state "$dom")" = "shut off" ] || lab_domain_stop "$dom"
}

snap ()
{
    local d
    for d in "${disks[@]}"; do cp "$TMPD/model-$d.qcow2" "$TMPD/m$1-$d.qcow2"; done
}

restored_ok ()
{
    local chk=$1 n=$2 d dir
    dir=$(mktemp -d "$TMPD/r.XXXXXX")
    expect_exit 0 vckpt restore "$dom" --repo "$R" --at "$chk" --to "$dir"
    for d in "${disks[@]}"; do
        qemu-img compare -q "$TMPD/m$n-$d.qcow2" "$dir/$d.qcow2" ||
            fail "restore at $chk: $d differs from point $n"
    done
}

bitmap_sound ()
{
    local flags
    flags=$(lab_bitmap_flags "$(lab_disk_path "$dom" "$1")" "$2") ||
        fail "disk $1 has no bitmap $2"
    [ "$flags" = auto ] || fail "bitmap $2 of disk $1 has flags '$flags', expected 'auto'"
}

no_bitmap ()
{
    lab_bitmaps "$(lab_disk_path "$dom" "$1")" > "$TMPD/bitmaps"
    assert_no_grep "^$2\$" "$TMPD/bitmaps"
}

in_use_none ()
{
    local d b img
    for d in "${disks[@]}"; do
        img=$(lab_disk_path "$dom" "$d")
        for b in $(lab_bitmaps "$img"); do
            case " $(lab_bitmap_flags "$img" "$b") " in
                *" in-use "*) fail "bitmap $b of $d is in-use" ;;
            esac
        done
    done
}

nbackups () { vckpt --json list-backups "$dom" --repo "${1:-$R}" | jq '.backups | length'; }
checkpoints () { virsh -q checkpoint-list "$dom" --name | sort | tr '\n' ' '; }
disk_files () { find "${1:-$R}/$dom" -name '*.qcow2' | wc -l; }

start_backup ()
{
    "$VCKPT" "$@" > "$TMPD/o" 2> "$TMPD/e" &
    pid=$!
}


qsd_of ()
{
    local c
    for c in $(cat "/proc/$1/task/$1/children"); do
        if [ "$(readlink "/proc/$c/exe")" = /usr/bin/qemu-storage-daemon ]; then
            echo "$c"
            return 0
        fi
    done
    fail "process $1 runs no qemu-storage-daemon"
}

# rolled_back NAME NBACKUPS NFILES
#
# After a failed or interrupted offline backup that was to create
# checkpoint NAME: no such checkpoint, no such bitmap in any disk, no
# bitmap in-use, the repository holds NBACKUPS backups and NFILES image
# files, and no qemu-storage-daemon holds the images.
rolled_back ()
{
    local d
    virsh -q checkpoint-list "$dom" --name > "$TMPD/checkpoints"
    assert_no_grep "^$1\$" "$TMPD/checkpoints"
    for d in "${disks[@]}"; do no_bitmap "$d" "$1"; done
    in_use_none
    test "$(nbackups)" = "$2" || fail "$(nbackups) backups, expected $2"
    test "$(disk_files)" = "$3" || fail "$(disk_files) image files, expected $3"
    for d in "${disks[@]}"; do
        if fuser -s "$(lab_disk_path "$dom" "$d")"; then
            fail "a process still holds disk $d"
        fi
    done
}
