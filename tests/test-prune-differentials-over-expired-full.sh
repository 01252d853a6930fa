#!/usr/bin/env bash
# A full backup with two differential backups on it; the full expires
# (--keep-last 2): the older differential becomes the chain's full, the
# newer one is rebased onto it (a sibling, not a descendant: the rebase
# compares both views); both restore bit for bit, verify passes, and the
# next differential stacks on the new full and restores.
. "${srcdir:-.}/prune-functions.sh"
pf_setup 16M
pf_put 0x51 0 6M
pf_backup 0 --full
pf_put 0x52 2M 1M
pf_backup 1 --differential
pf_put 0x53 4M 3M
pf_put 0x54 0 256K
pf_backup 2 --differential

expect_exit 0 pf_vckpt --json prune "$dom" --repo "$R" --keep-last 2
test "$(jq -r '.backups[1].promoted' "$out")" = true
test "$(jq -r '.backups[2].parent' "$out")" = "$(cat "$TMPD/id1")"
vckpt --json list-backups "$dom" --repo "$R" > "$TMPD/list.json"
test "$(jq -r '[.backups[].level] | join(" ")' "$TMPD/list.json")" = "full differential"
pf_restore_ok 1
pf_restore_ok 2
expect_exit 0 pf_vckpt --json verify "$dom" --repo "$R"
jq -e '.findings | length == 0' "$out" || fail "verify found problems after the prune"

pf_put 0x55 10M 1M
pf_backup 3 --differential
test "$(jq -r .since "$out")" = "$(jq -r '.backups[0].checkpoint' "$TMPD/list.json")"
pf_restore_ok 3
