#!/usr/bin/env bash
# checkpoint delete --children removes the checkpoints and their
# bitmaps from the images too; --metadata-only leaves the bitmaps.
. "${srcdir:-.}/checkpoint-functions.sh"
set -e -x
ck_setup

expect_exit 0 vckpt checkpoint delete "$dom" c3 --metadata-only
expect_exit 0 vckpt checkpoint delete "$dom" c1 --children
test "$(ncheckpoints)" -eq 0
lab_domain_stop "$dom"
qemu-img info --output=json "$(lab_disk_path "$dom" vda)" |
    jq -e '[."format-specific".data.bitmaps[]?.name] == ["c3"]'
