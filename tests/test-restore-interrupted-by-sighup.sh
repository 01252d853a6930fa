#!/usr/bin/env bash
# SIGHUP (the ssh session that ran the restore dropped) while restore's
# qemu-img runs: exit 6, the qemu-img child ended, no temporary directory
# or partial image left in --to.
. "${srcdir:-.}/restore-functions.sh"
rf_setup_big
rf_interrupt_restore HUP
