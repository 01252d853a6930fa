#!/usr/bin/env bash
# Every stop signal at every phase of a prune that merges: while it
# checksums the files to merge, as it writes its journal, as it copies and
# rebases the new file, as it seals it: exit 6, rolled back (no journal,
# no new file, every backup as it was); as the new manifest is committed:
# exit 0, "came too late", merged.  Afterwards every kept point restores
# exactly and verify passes.
. "${srcdir:-.}/signals-functions.sh"
. "${srcdir:-.}/prune-functions.sh"
sig_requires
pf_setup 64M
pf_put 0x51 0 32M
pf_backup 0 --full
pf_put 0x52 1M 4M
pf_backup 1 --auto

state () {
    pf_ids
    find "$R/$dom" -name '*.qcow2' | sort
}
for moment in "fadvise64 1" "renameat 1 $R/$dom" "copy_file_range 1" "clone3 1" "fadvise64 3"; do
    for sig in $STOP_SIGNALS; do
        before=$(state)
        # shellcheck disable=SC2086
        sig_at "$sig" $moment -- "$VCKPT" prune "$dom" --repo "$R" --keep-last 1
        sig_stopped "$sig"
        assert_eq "$before" "$(state)" "SIG$sig at $moment: the repository changed"
        test ! -e "$R/$dom/pending.xml" || fail "SIG$sig at $moment: the journal is left"
    done
done
pf_restore_ok 0
pf_restore_ok 1

# The new manifest's rename is the commit point: too late to stop.
n=1
for sig in $STOP_SIGNALS; do
    sig_at "$sig" renameat 2 "$R/$dom" -- "$VCKPT" prune "$dom" --repo "$R" --keep-last 1
    sig_too_late "$sig"
    test "$(pf_ids)" = "$(cat "$TMPD/id$n")" || fail "SIG$sig at the commit: not merged"
    test ! -e "$R/$dom/pending.xml"
    pf_restore_ok "$n"
    n=$((n + 1))
    pf_put "0x6$n" "${n}M" 1M
    pf_backup "$n" --auto
done
expect_exit 0 pf_vckpt --json verify "$dom" --repo "$R"
jq -e '.findings | length == 0' "$out"
