#!/usr/bin/env bash
# Seven backups of one chain (a full, six incrementals) on dates set in
# the manifest; prune --keep-daily 2 --keep-monthly 2 keeps exactly the
# points the table below says (restic's meanings, UTC days): the full
# expires and is merged into the oldest kept point, which becomes the
# chain's full; expired points in the middle are merged into the kept
# point above them.  --dry-run changes nothing and says the same; every
# kept point then restores bit for bit, verify passes, nothing is left.
. "${srcdir:-.}/prune-functions.sh"
pf_setup 16M

pf_put 0x10 0 4M
pf_backup 0 --full
for n in 1 2 3 4 5 6; do
    pf_put "0x2$n" "$(( (n % 4) * 1024 + 512 ))K" 1536K
    pf_backup "$n" --auto
done

# point  time (UTC)          kept by
#   0    2026-10-01 03:00    -          (the full: merged into 1)
#   1    2026-10-15 03:00    monthly    (becomes the chain's full)
#   2    2026-11-01 03:00    -          (merged into 4)
#   3    2026-11-01 15:00    -          (merged into 4)
#   4    2026-11-02 03:00    daily
#   5    2026-11-03 03:00    -          (merged into 6)
#   6    2026-11-03 04:00    newest, daily, monthly
pf_set_times "2026-10-01 03:00" "2026-10-15 03:00" "2026-11-01 03:00" "2026-11-01 15:00" \
             "2026-11-02 03:00" "2026-11-03 03:00" "2026-11-03 04:00"
want_kept="$(cat "$TMPD/id1" "$TMPD/id4" "$TMPD/id6")"

sum_repo() { (cd "$R/$dom" && find . -type f ! -name lock -print0 | sort -z | xargs -0 sha256sum); }
sum_repo > "$TMPD/before"
expect_exit 0 pf_vckpt --json prune "$dom" --repo "$R" --keep-daily 2 --keep-monthly 2 --dry-run
cp "$out" "$TMPD/plan.json"
sum_repo > "$TMPD/after-dry"
cmp "$TMPD/before" "$TMPD/after-dry" || fail "--dry-run changed the repository"
test "$(jq -r '.backups[] | select(.kept) | .id' "$TMPD/plan.json")" = "$want_kept"
test "$(jq -r '.backups[1].reasons | join(",")' "$TMPD/plan.json")" = monthly
test "$(jq -r '.backups[4].reasons | join(",")' "$TMPD/plan.json")" = daily
test "$(jq -r '.backups[6].reasons | join(",")' "$TMPD/plan.json")" = newest,daily,monthly
test "$(jq -r '.backups[1].promoted' "$TMPD/plan.json")" = true
test "$(jq -r '.backups[0].merged_into' "$TMPD/plan.json")" = "$(cat "$TMPD/id1")"
test "$(jq -r '.backups[2].merged_into' "$TMPD/plan.json")" = "$(cat "$TMPD/id4")"
test "$(jq -r '.backups[5].merged_into' "$TMPD/plan.json")" = "$(cat "$TMPD/id6")"
jq -e '.bytes > 0 and (.files | length) == 3' "$TMPD/plan.json"
expect_exit 0 pf_vckpt prune "$dom" --repo "$R" --keep-daily 2 --keep-monthly 2 --dry-run
grep -q "Would prune $dom: 3 kept, 4 expired" "$out"

expect_exit 0 pf_vckpt prune "$dom" --repo "$R" --keep-daily 2 --keep-monthly 2
grep -q "Pruned $dom: 3 kept, 4 expired" "$out"
test "$(pf_ids)" = "$want_kept"
vckpt --json list-backups "$dom" --repo "$R" > "$TMPD/list.json"
test "$(jq -r '[.backups[].level] | join(" ")' "$TMPD/list.json")" = "full incremental incremental"
test "$(jq -r '.backups[1].parent' "$TMPD/list.json")" = "$(cat "$TMPD/id1")"
test "$(jq -r '.backups[2].parent' "$TMPD/list.json")" = "$(cat "$TMPD/id4")"
jq -e '.backups[0].disks[0].backing == null' "$TMPD/list.json"

for n in 1 4 6; do
    pf_restore_ok "$n"
done
expect_exit 0 pf_vckpt --json verify "$dom" --repo "$R"
jq -e '.findings | length == 0' "$out" || fail "verify found problems after the prune"
test ! -e "$R/$dom/pending.xml"
# Only the kept points' files are left, and the checkpoint record of the
# expired full when it became the promoted full's differential base
# (repair redefines that checkpoint from it).
(cd "$R/$dom" && find . -mindepth 2 -type f | sort) > "$TMPD/files"
base=$(jq -r '[.backups[].differential_base // empty] | length' \
       <(vckpt --json list-backups "$dom" --repo "$R"))
test "$(wc -l < "$TMPD/files")" -eq $(( 9 + base )) || fail "files left: $(cat "$TMPD/files")"

# The next backup stacks on the newest kept point and restores.
pf_put 0x77 12M 1M
pf_backup 7 --auto
test "$(jq -r .level "$out")" = incremental
pf_restore_ok 7
