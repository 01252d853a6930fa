# vckpt test suite: shared setup of the backup fault scenarios
# (test-backup-faults-*.sh, one scenario per file).
#
# Usage, at the top of a scenario:
#
#   #!/usr/bin/env bash
#   . "${srcdir:-.}/faults-functions.sh"
#   set -e -x
#   faults_setup [--small-fs]
#
# faults_setup starts a lab with the running domain $dom ("faults": vda
# 1 GiB, vdb 32 MiB, both qcow2) and the empty model images
# $TMPD/model-vda.qcow2 and $TMPD/model-vdb.qcow2 of the same sizes.
# --small-fs also mounts a 48 MiB tmpfs on $TMPD/small before the lab
# starts (so QEMU, in the lab's mount namespace, writes to the same one).
# The repository is $R.  Each scenario writes only the data it needs:
# faults_fill for a full backup that lasts long enough to be caught in
# the middle, put for a few writes.
#
# Functions:
#   put DISK PATTERN OFFSET LENGTH   guest write, and the same write into
#                                    the disk's model (what a restore must
#                                    give back)
#   faults_fill [--no-model]         512 MiB in vda, 1 MiB in vdb (with put,
#                                    or only into the guest)
#   nbackups [REPO]                  backups in the manifest of $dom
#   checkpoints                      $dom's checkpoints, sorted, "a b "
#   disk_files [REPO]                image files in the repository
#   start_backup ARGS...             run the binary itself in the background
#                                    (stdout $TMPD/o, stderr $TMPD/e), set $pid
#   wait_job                         wait until libvirt runs a backup job
#                                    on $dom, fail if $pid ends first
#   no_backup_job                    fail if libvirt runs a backup job on $dom
#   no_checkpoint NAME               fail if $dom has checkpoint NAME
#   restored_ok CHECKPOINT DISK...   restore at CHECKPOINT, compare each DISK
#                                    with its model, bit for bit
#   no_writer                        true unless a qemu-storage-daemon has a
#                                    file of $R open (a pull job's writer)

. "${srcdir:-.}/functions.sh"
requires_root
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom=faults
R=$TMPD/repo

faults_setup ()
{
    if [ "${1:-}" = --small-fs ]; then
        mkdir "$TMPD/small"
        mount -t tmpfs -o size=48M,mode=0755 tmpfs "$TMPD/small"   # root's, like a disk an admin mounts
        cleanup_fn umount -l "$TMPD/small"
    fi
    lab_start
    lab_domain_define "$dom" --disk 1G --disk 32M
    lab_domain_start "$dom"
    qemu-img create -q -f qcow2 "$TMPD/model-vda.qcow2" 1G
    qemu-img create -q -f qcow2 "$TMPD/model-vdb.qcow2" 32M
}

put ()
{
    model_put "$@"
}

# Enough data that a full backup takes a while.  --no-model: the guest
# writes only, for a scenario that restores nothing (saves a second).
faults_fill ()
{
    local w=put
    [ "${1:-}" != --no-model ] || w="lab_write $dom"
    $w vda 0x31 0 256M
    $w vda 0x32 256M 256M
    $w vdb 0x41 0 1M
}

nbackups () { vckpt --json list-backups "$dom" --repo "${1:-$R}" | jq '.backups | length'; }
checkpoints () { virsh -q checkpoint-list "$dom" --name | sort | tr '\n' ' '; }
disk_files () { find "${1:-$R}/$dom" -name '*.qcow2' | wc -l; }

start_backup ()
{
    # The binary itself, not the vckpt() wrapper: $! is its pid.
    "$VCKPT" "$@" > "$TMPD/o" 2> "$TMPD/e" &
    pid=$!
}

_backup_job_runs () { virsh domjobinfo "$dom" | grep -q '^Operation: *Backup'; }

wait_job ()
{
    local i
    for (( i = 0; i < 200; i++ )); do
        _backup_job_runs && return 0
        kill -0 "$pid" 2>/dev/null || { cat "$TMPD/e" >&2 || true; fail "vckpt exited before its job started"; }
        sleep 0.05
    done
    fail "no backup job started within 10 s"
}

no_backup_job ()
{
    virsh domjobinfo "$dom" > "$TMPD/job"
    assert_no_grep '^Operation: *Backup' "$TMPD/job"
}

no_checkpoint ()
{
    virsh -q checkpoint-list "$dom" --name > "$TMPD/checkpoints"
    assert_no_grep "^$1\$" "$TMPD/checkpoints"
}

restored_ok ()
{
    local chk=$1 d dir
    shift
    dir=$(mktemp -d "$TMPD/r.XXXXXX")
    expect_exit 0 vckpt restore "$dom" --repo "$R" --at "$chk" --to "$dir"
    for d in "$@"; do
        qemu-img compare -q "$TMPD/model-$d.qcow2" "$dir/$d.qcow2" ||
            fail "restore at $chk: $d differs from what was written"
    done
}

no_writer ()
{
    local p
    for p in $(pgrep -f qemu-storage-daemon); do
        if ls -l "/proc/$p/fd" 2>/dev/null | grep -qF "$R/"; then
            return 1
        fi
    done
}
