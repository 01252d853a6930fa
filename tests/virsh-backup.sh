# Backups made with virsh directly, for tests that prove what libvirt itself
# does with a state vckpt validated (independent of vckpt's own backup code).
# Sourced by tests after functions.sh.

# _vb_xml MODE INCREMENTAL DIR|SOCKET [DISK...]: print a <domainbackup>.
_vb_xml ()
{
    local mode=$1 inc=$2 where=$3 d
    shift 3
    echo "<domainbackup mode='$mode'>"
    [ -z "$inc" ] || echo "  <incremental>$inc</incremental>"
    [ "$mode" = pull ] && echo "  <server transport='unix' socket='$where'/>"
    if [ $# -gt 0 ]; then
        echo "  <disks>"
        for d in "$@"; do
            if [ "$mode" = push ]; then
                echo "    <disk name='$d' type='file'><target file='$where/$d.qcow2'/><driver type='qcow2'/></disk>"
            else
                echo "    <disk name='$d' type='file'><scratch file='$where.$d.scratch'/></disk>"
            fi
        done
        echo "  </disks>"
    fi
    echo "</domainbackup>"
}

# lab_libvirt_backup DOM CHECKPOINT DIR [DISK...]
#
# Push backup of DISKs (default: all of the domain's disks) into DIR/DISK.qcow2,
# incremental from CHECKPOINT, and wait for it.  Returns 1 (libvirt's message
# on stderr) if libvirt refuses or the job fails.
lab_libvirt_backup ()
{
    local dom=$1 chk=$2 dir=$3 i state
    shift 3
    [ $# -gt 0 ] || set -- $(virsh -q domblklist "$dom" | awk '{print $1}')
    mkdir -p "$dir"
    _vb_xml push "$chk" "$dir" "$@" > "$dir.xml"
    virsh backup-begin "$dom" "$dir.xml" >&2 || return 1
    # The current job ends, then its completed stats say how (kept, so a
    # second read does not find them consumed).
    for (( i = 0; i < 600; i++ )); do
        state=$(virsh domjobinfo "$dom" | sed -n 's/^Job type: *//p')
        if [ "${state%% *}" = None ]; then
            state=$(virsh domjobinfo "$dom" --completed --keep-completed | sed -n 's/^Job type: *//p')
            case "${state%% *}" in
                Completed) return 0 ;;
                *) virsh domjobinfo "$dom" --completed --keep-completed >&2; return 1 ;;
            esac
        fi
        sleep 0.1
    done
    echo "lab_libvirt_backup: job did not finish in 60 s" >&2
    return 1
}

# lab_libvirt_pull_start DOM SOCKET [DISK...]
#
# Start a full pull-mode backup (an NBD export) that stays active until
# aborted with virsh domjobabort: a job that is certainly running.
lab_libvirt_pull_start ()
{
    local dom=$1 sock=$2 d
    shift 2
    # QEMU, as its own user, binds the socket: in a directory it owns.
    d=$(dirname "$sock")/qemu-sock
    mkdir -p -m 0700 "$d"
    chown "$(lab_qemu_uid)" "$d"
    sock=$d/$(basename "$sock")
    _vb_xml pull "" "$sock" "$@" > "$sock.xml"
    virsh backup-begin "$dom" "$sock.xml" >&2
}
