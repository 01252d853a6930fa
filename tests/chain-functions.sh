# Shared set-up of the overlay and commit tests (tests/chain.am).
#
#   . "${srcdir:-.}/chain-functions.sh"
#
# Sources functions.sh, turns on tracing and errexit, points
# VCKPT_STATE_DIR (the journals of overlay and commit) into $TMPD, and
# defines:
#   cf_setup               start a lab, define and start domain $dom (one
#                          32M qcow2 disk vda), write 0x11 at 0 and back up
#                          full (checkpoint c1), write 0x22 at 1M and back up
#                          incremental (c2) into $R, then shut it off
#   cf_put PATTERN OFF LEN a guest write to vda, and the same write to the
#                          model image $TMPD/model.qcow2
#   cf_backup NAME ARGS... vckpt backup into $R creating checkpoint NAME,
#                          keeping the earlier checkpoints;
#                          the model as it is now becomes $TMPD/m-NAME.qcow2
#   cf_restore_check NAME  restore the backup of checkpoint NAME and compare
#                          it bit for bit with $TMPD/m-NAME.qcow2
#   cf_validate_clean      vckpt validate $dom: exit 0, no error, no warning
#   cf_no_journal          the state directory holds no journal
#   cf_bitmap_granularity IMAGE BITMAP   print its granularity
#   cf_linked_overlay      after cf_setup: redefine $dom to name vda through
#                          a linked directory ($TMPD/imgs -> the lab's
#                          images; $real is the image's real path), make
#                          overlay s1 ($top, named through the link), back
#                          up c3 incrementally, shut the domain off
#   cf_committed           after a commit of $top: vda is $real again (by
#                          file), holds c1 c2 c3 and the model's bytes, no
#                          journal, validate clean, and an incremental from
#                          c3 restores bit-exact
. "${srcdir:-.}/functions.sh"
set -e -x
requires_root
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}
export VCKPT_STATE_DIR=$TMPD/state

dom=chain
R=$TMPD/repo

cf_put ()
{
    lab_write "$dom" vda "$1" "$2" "$3"
    qemu-io -f qcow2 -c "write -P $1 $2 $3" "$TMPD/model.qcow2" >/dev/null
}

cf_backup ()
{
    local name="$1"
    shift
    # --keep-checkpoints: the cases back up from every checkpoint after
    # an overlay or a commit.
    expect_exit 0 vckpt --json backup "$dom" --repo "$R" --name "$name" --keep-checkpoints "$@"
    cp "$TMPD/model.qcow2" "$TMPD/m-$name.qcow2"
}

cf_restore_check ()
{
    local d="$TMPD/r-$1"
    rm -rf "$d"
    mkdir "$d"
    expect_exit 0 vckpt restore "$dom" --repo "$R" --at "$1" --to "$d"
    qemu-img compare -q "$TMPD/m-$1.qcow2" "$d/vda.qcow2" ||
        fail "the restore at $1 differs from what was written"
}

cf_setup ()
{
    lab_start
    lab_domain_define "$dom" --disk 32M
    lab_domain_start "$dom"
    qemu-img create -q -f qcow2 "$TMPD/model.qcow2" 32M
    cf_put 0x11 0 1M
    cf_backup c1 --full
    cf_put 0x22 1M 1M
    cf_backup c2 --incremental c1
    lab_domain_stop "$dom"
}

cf_validate_clean ()
{
    expect_exit 0 vckpt --json validate "$dom" "$@"
    jq -e '.errors == 0 and .warnings == 0' "$out" >/dev/null ||
        fail "validate is not clean"
}

cf_no_journal ()
{
    if [ -n "$(ls -A "$VCKPT_STATE_DIR" 2>/dev/null)" ]; then
        ls -la "$VCKPT_STATE_DIR" >&2
        fail "a journal was left in $VCKPT_STATE_DIR"
    fi
}

cf_bitmap_granularity ()
{
    qemu-img info -U --output=json "$1" |
        jq -r --arg b "$2" '."format-specific".data.bitmaps[] | select(.name == $b) | .granularity'
}

cf_linked_overlay ()
{
    real=$(lab_disk_path "$dom" vda)
    ln -s "$(dirname "$real")" "$TMPD/imgs"
    virsh dumpxml --inactive --security-info "$dom" > "$TMPD/d.xml"
    sed -i "s|file='$real'|file='$TMPD/imgs/$(basename "$real")'|" "$TMPD/d.xml"
    virsh define "$TMPD/d.xml" >/dev/null
    test "$(lab_disk_path "$dom" vda)" = "$TMPD/imgs/$(basename "$real")"
    expect_exit 0 vckpt overlay create "$dom" --name s1
    top=$(lab_disk_path "$dom" vda)
    case "$top" in
        "$TMPD/imgs/"*) ;;
        *) fail "the overlay is not named through the link: $top" ;;
    esac
    lab_domain_start "$dom"
    cf_put 0x33 2M 1M
    cf_backup c3 --incremental c2
    lab_domain_stop "$dom"
}

cf_committed ()
{
    local now
    now=$(lab_disk_path "$dom" vda)
    test "$(stat -L -c %d:%i "$now")" = "$(stat -L -c %d:%i "$real")"
    test "$(lab_bitmaps "$real" | sort | tr '\n' ' ')" = "c1 c2 c3 "
    lab_compare_images "$real" "$TMPD/m-c3.qcow2"
    cf_no_journal
    cf_validate_clean
    lab_domain_start "$dom"
    cf_put 0x44 3M 1M
    cf_backup x3 --incremental c3
    cf_restore_check x3
}
