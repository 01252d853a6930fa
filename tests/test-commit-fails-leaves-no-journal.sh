#!/usr/bin/env bash
# A commit that fails by itself (not killed) fails the same way every
# time: here the overlay was grown while running, so qemu-img cannot merge
# its bitmaps into the smaller base.  Nothing was switched, so no journal
# is left to make validate refuse every backup: the domain keeps its old
# chain, and validate does not report a pending operation.  (A backup of
# this domain then still fails inside libvirt, which cannot merge the
# bitmaps of images of different sizes: that is the resize's doing, not
# the commit's.)
. "${srcdir:-.}/chain-functions.sh"
cf_setup
base=$(lab_disk_path "$dom" vda)
expect_exit 0 vckpt overlay create "$dom" --name s1
top=$(lab_disk_path "$dom" vda)
lab_domain_start "$dom"
lab_resize_disk "$dom" vda 64M
lab_domain_stop "$dom"
rc=0
vckpt commit "$dom" --disk vda --top "$top" >"$TMPD/o" 2>"$TMPD/e" || rc=$?
cat "$TMPD/e" >&2
test "$rc" -ne 0 || fail "the commit of a grown overlay succeeded"
cf_no_journal
test "$(lab_disk_path "$dom" vda)" = "$top"
expect_exit 0 vckpt --json validate "$dom" --full
assert_no_finding "$out" image-operation-pending
