#!/usr/bin/env bash
# On a shut-off domain: info --size is refused (it needs QEMU), info
# without it works, and the bitmaps are persisted in the images (graceful
# stop).
. "${srcdir:-.}/checkpoint-functions.sh"
set -e -x
ck_setup

lab_domain_stop "$dom"
expect_exit 1 vckpt checkpoint info "$dom" c1 --size
grep -q -- "--size needs a running domain" "$err"
expect_exit 0 vckpt checkpoint info "$dom" c1
qemu-img info --output=json "$(lab_disk_path "$dom" vda)" |
    jq -e '[."format-specific".data.bitmaps[].name] | sort == ["c1","c2","c3"]'
