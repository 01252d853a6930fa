#!/usr/bin/env bash
# A domain running from a backup (restore --instant) depends on that
# backup's files and on those it stacks on: prune keeps them all, with the
# reason "instant", whatever the rules say, and rewrites none of them; the
# instant domain moves off the repository fine afterwards; then the next
# prune expires them as the rules say, and the kept point restores.
. "${srcdir:-.}/prune-functions.sh"
pf_setup 16M
pf_put 0x71 0 2M
pf_backup 0 --full
pf_put 0x72 2M 1M
pf_backup 1 --auto
pf_put 0x73 3M 1M
pf_backup 2 --auto
id0=$(cat "$TMPD/id0"); id1=$(cat "$TMPD/id1"); id2=$(cat "$TMPD/id2")

mkdir "$TMPD/inst" "$TMPD/fin"
expect_exit 0 vckpt restore "$dom" --instant --define inst --at "$id1" --to "$TMPD/inst" --repo "$R"
test "$(lab_domain_state inst)" = running
find "$R/$dom" -name '*.qcow2' -printf '%p %s %T@\n' | sort > "$TMPD/files.before"

expect_exit 0 pf_vckpt --json prune "$dom" --repo "$R" --keep-last 1
for id in "$id0" "$id1"; do
    jq -e --arg id "$id" '.backups[] | select(.id == $id) | .kept and (.reasons | index("instant") != null)' \
       "$out" >/dev/null || fail "backup $id was not kept for the instant domain: $(cat "$out")"
done
test "$(pf_ids | tr '\n' ' ')" = "$id0 $id1 $id2 "
find "$R/$dom" -name '*.qcow2' -printf '%p %s %T@\n' | sort | diff "$TMPD/files.before" - ||
    fail "prune changed files an instant domain runs from"

expect_exit 0 vckpt restore --finish inst --to "$TMPD/fin" --repo "$R"
test ! -e "$R/$dom/instant.json" || jq -e '.domains == []' "$R/$dom/instant.json"
expect_exit 0 pf_vckpt --json prune "$dom" --repo "$R" --keep-last 1
test "$(pf_ids)" = "$id2"
pf_restore_ok 2
expect_exit 0 pf_vckpt verify "$dom" --repo "$R"
