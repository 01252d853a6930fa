#!/usr/bin/env bash
# SIGTERM while restore's qemu-img runs: exit 6, the qemu-img child ended,
# no temporary file or image left in --to.
. "${srcdir:-.}/restore-functions.sh"
rf_setup_big
rf_interrupt_restore TERM
