# Shared set-up of the tests of one chain of five backups of a running
# two-disk domain (listed in backup.am, restore.am and validate.am).
#
#   . "${srcdir:-.}/backup-functions.sh"
#
# Sources functions.sh, turns on tracing and errexit, and defines:
#   bf_put DISK PATTERN OFF LEN  write to the guest's disk and to its model
#   bf_backup N ARGS...          vckpt --json backup $dom into $R as point
#                                N (checkpoint kN), ARGS the mode (--full,
#                                --auto, ...), then $BF_ARGS (--pull...);
#                                it must succeed.  Its JSON
#                                output is kept as $TMPD/kN.json, the models
#                                as they are now as $TMPD/mN-vda.qcow2 and
#                                $TMPD/mN-vdb.qcow2 (what a restore at kN
#                                must give back)
#   bf_setup                     start a lab, define and start $dom ('web 1',
#                                a name with a space; vda 64M, vdb 32M) and
#                                make the five points: k0 full, k1
#                                incremental from k0, k2 --auto, k3
#                                differential, k4 --auto with nothing
#                                written since k3
#   bf_damage                    damage the vda file of backup 1 (k1): one
#                                byte written past its end, so that its size
#                                no longer matches the manifest
. "${srcdir:-.}/functions.sh"
set -e -x
requires_root
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom='web 1'
R=$TMPD/repo
# Pull mode's sockets are in $VCKPT_LOCK_DIR-nbd, which the lab's QEMU
# must see: the lab's /run is its own, $TMPD is shared.
export VCKPT_LOCK_DIR=${VCKPT_LOCK_DIR:-$TMPD/run}

bf_put ()
{
    model_put "$@"
}

bf_backup ()
{
    local n="$1" d
    shift
    # shellcheck disable=SC2086 # BF_ARGS: words to add to every backup
    expect_exit 0 vckpt --json backup "$dom" --repo "$R" --name "k$n" "$@" ${BF_ARGS:-}
    cp "$out" "$TMPD/k$n.json"
    for d in vda vdb; do
        cp "$TMPD/model-$d.qcow2" "$TMPD/m$n-$d.qcow2"
    done
}

bf_setup ()
{
    lab_start
    lab_domain_define "$dom" --disk 64M --disk 32M
    lab_domain_start "$dom"
    qemu-img create -q -f qcow2 "$TMPD/model-vda.qcow2" 64M
    qemu-img create -q -f qcow2 "$TMPD/model-vdb.qcow2" 32M

    bf_put vda 0x10 0 1M
    bf_put vdb 0x20 0 1M
    bf_backup 0 --full

    bf_put vda 0x11 2M 1M
    bf_backup 1 --incremental k0

    bf_put vda 0x12 4M 1M
    bf_put vda 0x13 0 512K          # overwrite part of the full backup's data
    bf_put vdb 0x21 8M 3M
    bf_backup 2 --auto

    bf_put vda 0x14 8M 1M
    bf_backup 3 --differential

    bf_backup 4 --auto              # nothing written since: an empty increment
}

bf_damage ()
{
    local f
    f=$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[1].disks[0].file')
    printf '\xff' | dd of="$R/$dom/$f" bs=1 seek=$((3 * 1024 * 1024)) conv=notrunc status=none
}
