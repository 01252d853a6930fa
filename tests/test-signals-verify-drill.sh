#!/usr/bin/env bash
# Every stop signal at the moments of the two readers of a repository.
# verify: as it opens the repository, as it hashes the first and the
# second backup file: exit 6.  A restore drill (verify --boot): as it opens
# the repository, as it creates its overlay, while it waits for the guest:
# exit 6, the drill's domain and private directory gone, nothing recorded.
# The repository's files never change.
. "${srcdir:-.}/signals-functions.sh"
. "${srcdir:-.}/drill-functions.sh"
set -e -x
sig_requires
lab_start
dom=d1
R=$TMPD/repo
dt=$TMPD/drilltmp
mkdir -m 0711 "$dt"      # QEMU's user reaches the drill's overlays
lab_domain_define "$dom" --disk 32M
lab_domain_start "$dom"
lab_write "$dom" vda 0x51 0 4M
expect_exit 0 vckpt backup "$dom" --repo "$R" --full
lab_write "$dom" vda 0x52 4M 4M
expect_exit 0 vckpt backup "$dom" --repo "$R" --auto
before=$(drill_sums "$R")

for moment in "openat 1 $R/$dom" "fadvise64 1" "fadvise64 2"; do
    for sig in $STOP_SIGNALS; do
        # shellcheck disable=SC2086
        sig_at "$sig" $moment -- "$VCKPT" verify "$dom" --repo "$R"
        sig_stopped "$sig"
    done
done

drill=("$VCKPT" verify "$dom" --boot --repo "$R" --timeout 600 --marker VCKPT-NEVER-PRINTED)
drill_running () { virsh -c "$LAB_URI" list --name | grep -q '^vckpt-drill-d1-'; }
for sig in $STOP_SIGNALS; do
    for moment in "openat 1 $R/$dom" "clone3 1"; do
        # shellcheck disable=SC2086
        TMPDIR=$dt sig_at "$sig" $moment -- "${drill[@]}"
        sig_stopped "$sig"
        drill_nothing_left "$dt"
    done
    TMPDIR=$dt "${drill[@]}" >"$TMPD/o" 2>"$TMPD/e" &
    pid=$!
    wait_for 60 "the drill's domain running" drill_running
    kill "-$sig" "$pid"
    rc=0
    wait "$pid" || rc=$?
    cat "$TMPD/e" >&2
    sig_stopped "$sig"
    drill_nothing_left "$dt"
done
test ! -e "$R/$dom/drills.json"
assert_eq "$before" "$(drill_sums "$R")" "backup files changed"
