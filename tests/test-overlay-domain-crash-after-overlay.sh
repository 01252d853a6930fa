#!/usr/bin/env bash
# overlay create killed (SIGKILL, VCKPT_TEST_HOOK=overlay:kill) after the
# overlay was made and before the definition was switched: validate reports
# image-operation-pending (an error, fix finish-operation) and the domain
# still uses its old image; running the same command again finishes it and
# does nothing else; then validate is clean and an incremental backup
# restores bit-exact.
. "${srcdir:-.}/chain-functions.sh"

cf_setup
base=$(lab_disk_path "$dom" vda)
new=${base%.qcow2}.s1.qcow2
killed_at overlay overlay create "$dom" --name s1
test "$(lab_disk_path "$dom" vda)" = "$base"
test -f "$new"
test "$(ls "$VCKPT_STATE_DIR")" = "imageop-$(virsh domuuid "$dom" | head -1).xml"

expect_exit 4 vckpt --json validate "$dom"
assert_finding "$out" image-operation-pending severity=error fix=finish-operation \
    'message~overlay of disk vda'
expect_exit 4 vckpt validate "$dom"
grep -q 'run the same vckpt overlay create or commit command on chain again' "$out"

expect_exit 0 vckpt overlay create "$dom" --name s1
grep -q '^Finished the interrupted overlay of domain chain; nothing else was done' "$out"
test "$(lab_disk_path "$dom" vda)" = "$new"
test "$(lab_bitmaps "$new" | sort | tr '\n' ' ')" = "c1 c2 "
test "$(ls "$(dirname "$base")" | grep -c '\.qcow2$')" = 2   # no second overlay
test -z "$(ls -A "$(dirname "$base")" | grep '^\.vckpt-' || true)"
cf_no_journal
cf_validate_clean

lab_domain_start "$dom"
cf_put 0x33 2M 1M
cf_backup c3 --incremental c2
cf_restore_check c3
