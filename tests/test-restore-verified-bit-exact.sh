#!/usr/bin/env bash
# A verified restore of each point (full, then the incremental on it) is bit
# for bit what the guest had written, and reports that it verified.
. "${srcdir:-.}/restore-functions.sh"
rf_setup

for i in 1 2; do
    mkdir "$TMPD/to$i"
    expect_exit 0 rf_vckpt --json restore "$dom" --repo "$R" --at c$i --to "$TMPD/to$i"
    jq -e '.verified == true' "$out"
    qemu-img compare -q "$TMPD/m$i-vda.qcow2" "$TMPD/to$i/vda.qcow2" ||
        fail "restore at c$i differs from what was written"
    rf_no_leftovers "$TMPD/to$i"
done
