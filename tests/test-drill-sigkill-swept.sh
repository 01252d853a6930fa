#!/usr/bin/env bash
# A drill killed with SIGKILL cannot clean up: libvirt destroys its
# transient domain when vckpt's connection drops (it was started with
# VIR_DOMAIN_START_AUTODESTROY), and the next drill removes the private
# directory the killed one left (its lock is free), with a warning.
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/drill-functions.sh"
set -e -x
lab_start

dom=d1
R=$TMPD/repo
dt=$TMPD/drilltmp
mkdir -m 0711 "$dt"      # QEMU's user reaches the drill's overlays
lab_domain_define "$dom" --disk 64M
lab_domain_start "$dom"
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name c1
before=$(drill_sums "$R")

TMPDIR=$dt "$VCKPT" verify "$dom" --boot --repo "$R" --timeout 600 \
    --marker VCKPT-NEVER-PRINTED >"$TMPD/o" 2>"$TMPD/e" &
pid=$!
drill_running () { virsh -c "$LAB_URI" list --all --name | grep -q '^vckpt-drill-d1-'; }
wait_for 60 "the drill's domain running" drill_running
kill -KILL $pid
wait $pid || true
no_drill_domain () { ! drill_running; }
wait_for 60 "libvirt destroying the killed drill's domain" no_drill_domain
left=$(ls -A "$dt")
test -n "$left" || fail "the killed drill left no directory (the test cannot see the sweep)"

TMPDIR=$dt expect_exit 1 vckpt verify "$dom" --boot --repo "$R" --timeout 1 \
    --marker VCKPT-NEVER-PRINTED
grep -q "removed $dt/$left, which a killed drill left" "$err"
drill_nothing_left "$dt"
assert_eq "$before" "$(drill_sums "$R")" "backup files changed"
