#!/usr/bin/env bash
# SIGINT while restore's qemu-img runs: exit 6, the qemu-img child ended,
# no temporary file or image left in --to; a restore run again is exact.
. "${srcdir:-.}/restore-functions.sh"
rf_setup_big
rf_interrupt_restore INT
expect_exit 0 rf_vckpt restore "$dom" --repo "$R" --to "$TMPD/to"
qemu-img compare -q "$TMPD/m1-vda.qcow2" "$TMPD/to/vda.qcow2"
