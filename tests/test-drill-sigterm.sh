#!/usr/bin/env bash
# SIGTERM while a restore drill waits for the guest: exit 6, the
# transient domain is destroyed, its private directory removed, nothing is
# recorded, and the repository's files are unchanged.
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
drill_running () { virsh -c "$LAB_URI" list --name | grep -q '^vckpt-drill-d1-'; }
wait_for 60 "the drill's domain running" drill_running
test -n "$(ls -A "$dt")" || fail "no private directory while the drill runs"
kill -TERM $pid
rc=0; wait $pid || rc=$?
cat "$TMPD/e"
test $rc -eq 6 || fail "SIGTERM: exit $rc, want 6"
grep -q "interrupted by signal 15" "$TMPD/e"
drill_nothing_left "$dt"
assert_eq "$before" "$(drill_sums "$R")" "backup files changed by the drill"
expect_exit 0 vckpt --json list-backups "$dom" --repo "$R"
jq -e '.backups[0].last_drill == null' "$out"
test ! -e "$R/$dom/drills.json"
