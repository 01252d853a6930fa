#!/usr/bin/env bash
# Every stop signal at the moments of overlay create and commit (domain
# forms).  overlay create: as its journal is written, as the last bitmap
# is added to the overlay, as the overlay is renamed into place: exit 6, the domain on its old image, no overlay, no temporary
# file, no journal; as the journal is removed after the switch: exit 0,
# "came too late".  commit: as its journal is written, as the last bitmap
# is merged into the base: exit 6, the domain on its old chain, no
# journal; as the journal is removed: exit 0, "came too late".  Then
# validate is clean and an incremental backup restores exactly.
. "${srcdir:-.}/signals-functions.sh"
. "${srcdir:-.}/chain-functions.sh"
sig_requires
cf_setup
S=$VCKPT_STATE_DIR
mkdir -p "$S"
chmod 0700 "$S"
base=$(lab_disk_path "$dom" vda)
new=${base%.qcow2}.s1.qcow2
dir=$(dirname "$base")

for moment in "renameat2 1 $S" "clone3 3" "renameat2 1 $new"; do
    for sig in $STOP_SIGNALS; do
        # shellcheck disable=SC2086
        sig_at "$sig" $moment -- "$VCKPT" overlay create "$dom" --name s1
        sig_stopped "$sig"
        test "$(lab_disk_path "$dom" vda)" = "$base" || fail "SIG$sig at $moment: switched"
        test ! -e "$new" || fail "SIG$sig at $moment: the overlay is left"
        test -z "$(ls -A "$dir" | grep '^\.vckpt-' || true)" || fail "SIG$sig at $moment: a temporary file is left"
        cf_no_journal
    done
done
sig_at HUP unlinkat 1 "$S" -- "$VCKPT" overlay create "$dom" --name s1
sig_too_late HUP
test "$(lab_disk_path "$dom" vda)" = "$new"
cf_no_journal

for moment in "renameat2 1 $S" "clone3 2"; do
    for sig in $STOP_SIGNALS; do
        # shellcheck disable=SC2086
        sig_at "$sig" $moment -- "$VCKPT" commit "$dom" --disk vda --top "$new"
        sig_stopped "$sig"
        test "$(lab_disk_path "$dom" vda)" = "$new" || fail "SIG$sig at $moment: switched"
        cf_no_journal
    done
done
sig_at QUIT unlinkat 1 "$S" -- "$VCKPT" commit "$dom" --disk vda --top "$new"
sig_too_late QUIT
test "$(lab_disk_path "$dom" vda)" = "$base"
cf_no_journal
cf_validate_clean

lab_domain_start "$dom"
cf_put 0x33 2M 1M
cf_backup c3 --incremental c2
cf_restore_check c3
