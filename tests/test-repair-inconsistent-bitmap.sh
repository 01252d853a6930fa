#!/usr/bin/env bash
# Bitmaps left in-use by a SIGKILLed QEMU: repair removes the bitmap and
# the checkpoint's metadata, and says the next backup is a new full chain;
# backup --auto then does a full one, which restores bit-exact.
. "${srcdir:-.}/repair-functions.sh"
rp_setup
img=$(rp_img)

rp_put 0x11 0 1M
rp_backup --full --name c1
rp_put 0x22 1M 1M
lab_domain_stop "$dom"                  # c1 saved in the image
lab_domain_start "$dom"
lab_domain_kill "$dom"                  # c1 stays in-use in the file
test "$(lab_bitmap_flags "$img" c1)" = "auto in-use"

rp_validate
assert_finding "$out" bitmap-inconsistent severity=error disk=vda bitmap=c1 checkpoint=c1

expect_exit 0 vckpt --json repair "$dom" --repo "$R"
jq -e '[.steps[] | .action] == ["remove-bitmap", "delete-checkpoint-metadata"]' "$out"
jq -e '[.steps[] | select(.state == "done" and .code == "bitmap-inconsistent"
        and .checkpoint == "c1")] | length == 2' "$out"
jq -e '.next_backup.full == true' "$out"
jq -e '.next_backup.reason | test("checkpoint .c1. of the newest backup")' "$out"
test -z "$(lab_bitmaps "$img")"
test -z "$(virsh -q checkpoint-list "$dom" --name)"
rp_validate
assert_no_finding "$out" bitmap-inconsistent
assert_no_finding "$out" bitmap-orphan
jq -e '.errors == 0' "$out"

# The text says so too.
expect_exit 0 vckpt repair "$dom" --repo "$R" --dry-run
grep -q '^Nothing to repair in rp' "$out"
grep -q '^Next backup: a new full chain' "$out"

# What repair advertised: --auto starts a new full chain.
lab_domain_start "$dom"
rp_backup --auto --name c2
jq -e '.level == "full" and .auto_reason != null' "$out"
rp_restore_check
rp_put 0x33 2M 1M
rp_backup --auto --name c3
jq -e '.level == "incremental" and .since == "c2"' "$out"
rp_restore_check
