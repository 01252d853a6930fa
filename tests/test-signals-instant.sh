#!/usr/bin/env bash
# Every stop signal at the moments of instant recovery.  restore --instant:
# as it opens the repository, creates the first overlay, writes its record,
# once the domain is defined: exit 6, nothing left (no domain, overlay or
# record).  restore --finish: as it looks for the record, during the block
# copy: exit 6, the copy aborted (no job, no image), the domain still on
# its overlay and recorded; as the overlay is removed after the move:
# exit 0, "came too late", moved and unrecorded.
. "${srcdir:-.}/signals-functions.sh"
set -e -x
sig_requires
lab_start
dom=d1
R=$TMPD/repo
I=$TMPD/inst
F=$TMPD/final
mkdir "$I" "$F"
lab_domain_define "$dom" --disk 32M
lab_domain_start "$dom"
lab_write "$dom" vda 0x61 0 4M
expect_exit 0 vckpt backup "$dom" --repo "$R" --full
lab_domain_stop "$dom"

records () { if [ -e "$R/$dom/instant.json" ]; then jq -c '[.domains[].name]' "$R/$dom/instant.json"; fi; }
nothing_left () {
    if virsh -q list --all --name | grep -qx n1; then fail "SIG$1 at $2: domain n1 was left"; fi
    test -z "$(ls -A "$I")" || fail "SIG$1 at $2: left in $I: $(ls -A "$I")"
    [ "$(records)" = "" ] || [ "$(records)" = "[]" ] || fail "SIG$1 at $2: a record was left"
}
instant=("$VCKPT" restore "$dom" --instant --define n1 --to "$I" --repo "$R")
for moment in "openat 1 $R/$dom" "clone3 1" "renameat 1 $R/$dom"; do
    for sig in $STOP_SIGNALS; do
        # shellcheck disable=SC2086
        sig_at "$sig" $moment -- "${instant[@]}"
        sig_stopped "$sig"
        nothing_left "$sig" "$moment"
    done
done
for sig in $STOP_SIGNALS; do
    sig_held "$sig" instant-defined -- "${instant[@]}"
    sig_stopped "$sig"
    nothing_left "$sig" "instant-defined"
done

expect_exit 0 vckpt restore "$dom" --instant --define n1 --to "$I" --repo "$R"
lab_write n1 vda 0x62 4M 4M
finish=("$VCKPT" restore --finish n1 --to "$F" --repo "$R")
on_overlay () {
    test "$(lab_disk_path n1 vda)" = "$I/n1-vda.instant.qcow2" ||
        fail "SIG$1 at $2: n1 left its overlay"
    [[ "$(virsh blockjob n1 vda 2>&1)" != *"Block Copy"* ]] || fail "SIG$1 at $2: a copy job runs"
    test -z "$(ls -A "$F")" || fail "SIG$1 at $2: left in $F: $(ls -A "$F")"
    [ "$(records)" = '["n1"]' ] || fail "SIG$1 at $2: the record changed: $(records)"
}
for sig in $STOP_SIGNALS; do
    sig_at "$sig" openat 1 "$R/$dom" -- "${finish[@]}"
    sig_stopped "$sig"
    on_overlay "$sig" "the record"
    sig_held "$sig" finish-copying -- "${finish[@]}"
    sig_stopped "$sig"
    on_overlay "$sig" "the copy"
done
# The overlay's removal comes after every disk moved: too late.
sig_at HUP unlink 1 "$I/n1-vda.instant.qcow2" -- "${finish[@]}"
sig_too_late HUP
test "$(lab_disk_path n1 vda)" = "$F/n1-vda.qcow2"
test ! -e "$I/n1-vda.instant.qcow2"
[ "$(records)" = "" ] || [ "$(records)" = "[]" ]
lab_domain_stop n1
lab_expect_pattern "$F/n1-vda.qcow2" 0 4M 0x61
lab_expect_pattern "$F/n1-vda.qcow2" 4M 4M 0x62
