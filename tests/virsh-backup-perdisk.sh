# Backups made with virsh directly, with a backup level per disk, for tests
# that prove what libvirt itself does with a state vckpt validated
# (independent of vckpt's own backup code).  Sourced by tests after
# functions.sh and virsh-backup.sh.

# lab_libvirt_backup_perdisk DOM INCREMENTAL DIR CHECKPOINT NOCKPT DISK:MODE...
#
# Push backup into DIR/DISK.qcow2 of each DISK, MODE 'full' (copied whole,
# backupmode='full') or 'inc' (incremental from INCREMENTAL, which may be
# empty for a full backup of every disk).  If CHECKPOINT is not empty, the
# job creates that checkpoint, with checkpoint='no' for the disks in the
# comma-separated list NOCKPT and a bitmap for every other disk of the
# domain.  Waits for the job; returns 1 (libvirt's message on stderr) if
# libvirt refuses or the job fails.
lab_libvirt_backup_perdisk ()
{
    local dom=$1 inc=$2 dir=$3 chk=$4 nockpt=$5 spec d mode i state
    shift 5
    mkdir -p "$dir"
    {
        echo "<domainbackup mode='push'>"
        [ -z "$inc" ] || echo "  <incremental>$inc</incremental>"
        echo "  <disks>"
        for spec in "$@"; do
            d=${spec%%:*} mode=${spec#*:}
            case "$mode" in
                full) mode=" backupmode='full'" ;;
                inc) mode=" backupmode='incremental'" ;;
                *) fail "lab_libvirt_backup_perdisk: bad mode in '$spec'" ;;
            esac
            echo "    <disk name='$d' backup='yes' type='file'$mode><target file='$dir/$d.qcow2'/><driver type='qcow2'/></disk>"
        done
        echo "  </disks>"
        echo "</domainbackup>"
    } > "$dir.xml"
    set -- "$dir.xml"
    if [ -n "$chk" ]; then
        {
            echo "<domaincheckpoint><name>$chk</name><disks>"
            for d in $(virsh -q domblklist "$dom" | awk '{print $1}'); do
                if [[ ",$nockpt," == *",$d,"* ]]; then
                    echo "  <disk name='$d' checkpoint='no'/>"
                else
                    echo "  <disk name='$d' checkpoint='bitmap'/>"
                fi
            done
            echo "</disks></domaincheckpoint>"
        } > "$dir.chk.xml"
        set -- "$@" "$dir.chk.xml"
    fi
    virsh backup-begin "$dom" "$@" >&2 || return 1
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
    echo "lab_libvirt_backup_perdisk: job did not finish in 60 s" >&2
    return 1
}
