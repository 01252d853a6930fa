#!/usr/bin/env bash
# overlay create --disk vda killed after the overlay was made: overlay
# create --disk vdb (same --name) finishes the pending overlay of vda but
# says that what it was asked for, an overlay of vdb, was not done (exit
# 5): vdb is untouched until it is asked for again (exit 0).
. "${srcdir:-.}/functions.sh"
set -e -x
requires_root
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}
export VCKPT_STATE_DIR=$TMPD/state
dom=twod
lab_start
lab_domain_define "$dom" --disk 16M --disk 16M
vda=$(lab_disk_path "$dom" vda)
vdb=$(lab_disk_path "$dom" vdb)

killed_at overlay overlay create "$dom" --disk vda --name s1
test "$(lab_disk_path "$dom" vda)" = "$vda"

expect_exit 5 vckpt overlay create "$dom" --disk vdb --name s1
grep -q "an interrupted overlay of domain '$dom' was pending: it is finished now, but the overlay asked for was not done" "$err"
test "$(lab_disk_path "$dom" vda)" = "${vda%.qcow2}.s1.qcow2"
test "$(lab_disk_path "$dom" vdb)" = "$vdb"
test -z "$(ls -A "$VCKPT_STATE_DIR")"

expect_exit 0 vckpt overlay create "$dom" --disk vdb --name s1
test "$(lab_disk_path "$dom" vdb)" = "${vdb%.qcow2}.s1.qcow2"
