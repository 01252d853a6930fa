#!/usr/bin/env bash
# After an overlay carried the bitmaps over, an offline backup deletes the
# checkpoints no next backup needs: their bitmaps go from every image of
# the chain (the base too), not from the top alone, so validate stays
# clean (no orphan) and a later commit is not refused.
. "${srcdir:-.}/chain-functions.sh"
cf_setup
base=$(lab_disk_path "$dom" vda)
expect_exit 0 vckpt overlay create "$dom" --name s1
top=$(lab_disk_path "$dom" vda)
test "$(lab_bitmaps "$base" | sort | tr '\n' ' ')" = "c1 c2 "
# Offline, without --keep-checkpoints: c2 is needed no more afterwards.
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --name c3 --incremental c2
test "$(virsh -q checkpoint-list "$dom" --name | sort | tr '\n' ' ')" = "c1 c3 "
test "$(lab_bitmaps "$base" | sort | tr '\n' ' ')" = "c1 " ||
    fail "c2's bitmap stayed in the base: $(lab_bitmaps "$base" | tr '\n' ' ')"
test "$(lab_bitmaps "$top" | sort | tr '\n' ' ')" = "c1 c3 "
cf_validate_clean
expect_exit 0 vckpt commit "$dom" --disk vda --top "$top"
cf_validate_clean
lab_domain_start "$dom"
cf_put 0x55 4M 1M
cf_backup c4 --incremental c3
cf_restore_check c4
