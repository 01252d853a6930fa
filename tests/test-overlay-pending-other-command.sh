#!/usr/bin/env bash
# A command that finds another operation pending finishes it, but reports
# that what it was asked for was not done (exit 5), so that a cron job
# never reads success for work that did not happen: an overlay create
# killed after the overlay was made, then a commit asked for, then an
# overlay create with another snapshot name.  Each finishes nothing new and
# exits 5; the same overlay create again exits 0.
. "${srcdir:-.}/chain-functions.sh"

cf_setup
base=$(lab_disk_path "$dom" vda)
new=${base%.qcow2}.s1.qcow2
killed_at overlay overlay create "$dom" --name s1
test "$(lab_disk_path "$dom" vda)" = "$base"

# A commit is asked for: the overlay is finished first, the commit is not done.
expect_exit 5 vckpt commit "$dom" --disk vda --top "$new"
grep -q "an interrupted overlay of domain 'chain' was pending: it is finished now, but the commit asked for was not done" "$err"
test "$(lab_disk_path "$dom" vda)" = "$new"            # the overlay is in place
test "$(lab_image_info "$new" | jq -r '."backing-filename"')" != null   # not committed
cf_no_journal

# Nothing pending now: the commit runs.
expect_exit 0 vckpt commit "$dom" --disk vda --top "$new"
test "$(lab_disk_path "$dom" vda)" = "$base"

# An overlay named s2 interrupted; overlay create --name s3 finishes s2 and
# says s3 was not made; overlay create --name s2 then has nothing to do.
killed_at overlay overlay create "$dom" --name s2
expect_exit 5 vckpt overlay create "$dom" --name s3
grep -q "the overlay asked for was not done" "$err"
test "$(lab_disk_path "$dom" vda)" = "${base%.qcow2}.s2.qcow2"
test ! -e "${base%.qcow2}.s3.qcow2"
cf_no_journal
cf_validate_clean
