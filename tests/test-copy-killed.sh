#!/usr/bin/env bash
# copy killed (SIGKILL, as a crash) at each of its steps: the copy holds
# what it held before, or the whole copy once it was committed; the next
# copy finishes the work and leaves nothing else behind (verify finds no
# stray file).  The steps: the journal written, a file half written, the
# first point's files written, a point converted to a standalone full, a
# file's backing name changed, the manifest written; and a damaged file's
# new copy written before it takes the old one's place.
. "${srcdir:-.}/copy-functions.sh"
bf_setup
copy () { killed_at "$1" copy "$dom" --repo "$R" --to "$D"; }

# The first copy into an empty repository: nothing, or everything.
for p in copy-journal copy-writing copy-point copy-committed; do
    rm -rf "$D"
    copy "$p"
    n=$(cf_ids | wc -l)
    if [ "$p" = copy-committed ]; then want=5; else want=0; fi
    test "$n" = "$want" || fail "killed at $p: the copy lists $n backups, not $want"
    cf_copy
    test "$(cf_ids | wc -l)" = 5
    cf_verify_ok
done
cf_restores_ok

# A damaged file of the copy is put back whole, or not at all.
f=$(vckpt --json list-backups "$dom" --repo "$D" | jq -r '.backups[1].disks[0].file')
size=$(stat -c %s "$D/$dom/$f")
truncate -s $((size - 1)) "$D/$dom/$f"
copy copy-repaired
test "$(stat -c %s "$D/$dom/$f")" = $((size - 1))
cf_copy
test "$(jq -r '.repaired[0]' "$out")" = "$f"
cmp "$R/$dom/$f" "$D/$dom/$f"
cf_verify_ok

# A point whose parent the copy lacks (standalone there), and one stacked
# on it (its backing name changed): killed before the commit, the copy is
# as it was to every reader.
expect_exit 0 vckpt prune "$dom" --repo "$D" --keep-last 1
bf_put vda 0x16 16M 2M
bf_backup 5 --differential
bf_put vda 0x17 17M 1M
bf_backup 6 --incremental k5
cf_state > "$TMPD/before"
for p in copy-journal copy-writing copy-converted copy-point copy-rebased; do
    copy "$p"
    cf_state > "$TMPD/after"
    cmp "$TMPD/before" "$TMPD/after" || fail "killed at $p, the copy changed"
done
copy copy-committed
test "$(cf_ids | wc -l)" = 3
cf_copy
test "$(jq -r '.copied' "$out")" = 0
cf_verify_ok
cf_restores_ok
