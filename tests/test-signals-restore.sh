#!/usr/bin/env bash
# Every stop signal at every phase of a restore: as it opens the
# repository, as it starts hashing (its private directory made), after
# the first image was converted: exit 6 and nothing left in --to; as the
# images are renamed into place: exit 0, "came too late", the images are
# complete and exact; as the result is printed: exit 0, the output whole.
. "${srcdir:-.}/signals-functions.sh"
set -e -x
sig_requires
lab_start

dom=sigr
R=$TMPD/repo
T=$TMPD/to
mkdir "$T"
lab_domain_define "$dom" --disk 32M --disk 32M
lab_domain_start "$dom"
lab_write "$dom" vda 0x71 0 8M
lab_write "$dom" vdb 0x72 1M 8M
expect_exit 0 vckpt backup "$dom" --repo "$R" --full
lab_domain_stop "$dom"

for moment in "openat 1 $R/$dom" "clone3 1" "fsync 1"; do
    for sig in $STOP_SIGNALS; do
        # shellcheck disable=SC2086
        sig_at "$sig" $moment -- "$VCKPT" restore "$dom" --repo "$R" --to "$T"
        sig_stopped "$sig"
        test -z "$(ls -A "$T")" || fail "SIG$sig at $moment: left in --to: $(ls -A "$T")"
    done
done
# Renamed into place: complete.
for sig in $STOP_SIGNALS; do
    sig_at "$sig" renameat2 2 "$T" -- "$VCKPT" restore "$dom" --repo "$R" --to "$T"
    sig_too_late "$sig"
    test "$(ls -A "$T" | sort | tr '\n' ' ')" = "vda.qcow2 vdb.qcow2 "
    lab_compare_images "$(lab_disk_path "$dom" vda)" "$T/vda.qcow2"
    lab_compare_images "$(lab_disk_path "$dom" vdb)" "$T/vdb.qcow2"
    rm "$T"/*.qcow2
done
# Once the work is done (the result being printed): noted, changes nothing.
for sig in HUP QUIT; do
    sig_at "$sig" write 1 "$TMPD/o" -- "$VCKPT" restore "$dom" --repo "$R" --to "$T"
    [ "$rc" -eq 0 ] || fail "SIG$sig while the result was printed: exit $rc, expected 0"
    grep -q "signal $(sig_num "$sig") came once the work was done" "$TMPD/e"
    grep -q "vda.qcow2" "$TMPD/o"
    lab_compare_images "$(lab_disk_path "$dom" vda)" "$T/vda.qcow2"
    rm "$T"/*.qcow2
done
