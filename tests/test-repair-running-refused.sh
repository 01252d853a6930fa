#!/usr/bin/env bash
# On a running domain, repair refuses to remove a bitmap no checkpoint
# owns (QEMU holds the image; libvirt has no API for it): exit 5, the
# reason said, nothing changed.  Shut off, the same repair works.
. "${srcdir:-.}/repair-functions.sh"
rp_setup
img=$(rp_img)

expect_exit 0 vckpt checkpoint create "$dom" o1
lab_domain_stop "$dom"
virsh checkpoint-delete "$dom" o1 --metadata
lab_domain_start "$dom"                     # QEMU holds o1 now
rp_validate
assert_finding "$out" bitmap-orphan bitmap=o1
rp_state "$TMPD/before"

expect_exit 5 vckpt --json repair "$dom"
jq -e '.running == true' "$out"
jq -e '.steps | length == 1' "$out"
jq -e '.steps[0] | .action == "remove-bitmap" and .state == "refused" and .bitmap == "o1"
       and (.error | test("domain is running"))' "$out"
jq -e '.refused == 1 and .done == 0' "$out"
grep -q "repair rp: 1 repair step refused: the domain is running" "$err"
rp_state "$TMPD/after"
diff "$TMPD/before" "$TMPD/after"
expect_exit 5 vckpt repair "$dom"
grep -q '^refused  remove-bitmap ' "$out"
grep -q '^        refused: the domain is running' "$out"

# Shut off: done.
lab_domain_stop "$dom"
expect_exit 0 vckpt repair "$dom"
grep -q '^done     remove-bitmap ' "$out"
test -z "$(lab_bitmaps "$img")"
rp_validate
assert_no_finding "$out" bitmap-orphan
lab_domain_start "$dom"
rp_put 0x11 0 1M
rp_backup --full --name o1
rp_restore_check
