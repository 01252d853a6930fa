# Shared set-up of the repair scenarios (tests/repair.am).
#
#   . "${srcdir:-.}/repair-functions.sh"
#
# Sources functions.sh, turns on tracing and errexit, starts a lab, and
# defines (domain $dom, one 32M disk, defined and started by rp_setup):
#   rp_setup [DISK-OPTIONS] start a lab, define and start $dom (default one
#                           32M disk: lab_domain_define's options); the model
#                           image $TMPD/model.qcow2 receives every rp_put
#   rp_put PATTERN OFF LEN  write to the guest's vda and to the model
#   rp_img                  print the image file of vda
#   rp_backup ARGS...       vckpt --json backup $dom --repo $R ARGS (exit 0)
#   rp_restore_check        restore the newest backup (the domain shut off
#                           or not) and compare it bit for bit with the model
#   rp_state FILE           write the checkpoint list and vda's bitmaps with
#                           their flags to FILE (dry-run comparisons)
#   rp_validate             vckpt --json validate $dom into $out, any exit
#   rp_chain N              a new chain of N backups (--full, then --auto),
#                           each after a write of its own (rp_put)
#   rp_checkpoints          libvirt's checkpoints of $dom, sorted, on one line
#   rp_parent CHECKPOINT    its parent in libvirt ("" for a root)
#   rp_next                 the checkpoints the repository's next backups need
#                           (its newest backup's, and the one its chain's
#                           differentials are taken from), sorted, one line
. "${srcdir:-.}/functions.sh"
set -e -x
requires_root
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom=rp
R=$TMPD/repo

rp_setup ()
{
    lab_start
    if [ $# -eq 0 ]; then set -- --disk 32M; fi
    lab_domain_define "$dom" "$@"
    lab_domain_start "$dom"
    qemu-img create -q -f qcow2 "$TMPD/model.qcow2" 32M
}

rp_put ()
{
    lab_write "$dom" vda "$1" "$2" "$3"
    qemu-io -f qcow2 -c "write -P $1 $2 $3" "$TMPD/model.qcow2" >/dev/null
}

rp_img () { lab_disk_path "$dom" vda; }

rp_backup () { expect_exit 0 vckpt --json backup "$dom" --repo "$R" "$@"; }

rp_restore_check ()
{
    local to
    to=$(mktemp -d "$TMPD/restore.XXXXXX")
    expect_exit 0 vckpt restore "$dom" --repo "$R" --latest --to "$to"
    qemu-img compare -q "$TMPD/model.qcow2" "$to/vda.qcow2" ||
        fail "the restored vda differs from what was written"
}

rp_state ()
{
    local img b
    img=$(rp_img)
    {
        virsh -q checkpoint-list "$dom" --name | sort
        echo "--"
        for b in $(lab_bitmaps "$img" | sort); do
            echo "$b $(lab_bitmap_flags "$img" "$b")"
        done
    } > "$1"
}

rp_validate ()
{
    local rc=0
    out="$TMPD/validate.json"
    vckpt --json validate "$dom" > "$out" 2> "$TMPD/validate.err" || rc=$?
    cat "$out" >&2
    test "$rc" -eq 0 || test "$rc" -eq 4 || fail "validate exited with $rc"
}

_rp_writes=0
rp_chain ()
{
    local i
    for (( i = 1; i <= $1; ++i )); do
        _rp_writes=$((_rp_writes + 1))
        rp_put "$(printf '0x%02x' $((_rp_writes % 200 + 16)))" "$((_rp_writes % 30))M" 512K
        if [ "$i" -eq 1 ]; then rp_backup --full; else rp_backup --auto; fi
    done
}

rp_checkpoints () { virsh -q checkpoint-list "$dom" --name | sort | tr '\n' ' '; }

rp_parent ()
{
    virsh checkpoint-dumpxml "$dom" "$1" | xmllint --xpath 'string(/domaincheckpoint/parent/name)' -
}

rp_next ()
{
    vckpt --json list-backups "$dom" --repo "$R" |
        jq -r '.backups as $b | $b[-1] as $l
               | [$l.checkpoint,
                  ([$b[] | select(.chain == $l.chain and .level == "full")][0]
                   | .differential_base // .checkpoint)] | unique | .[]' | tr '\n' ' '
}
