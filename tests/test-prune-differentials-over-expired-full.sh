#!/usr/bin/env bash
# A full backup with two differential backups on it; the full expires
# (--keep-last 2): the older differential becomes the chain's full, the
# newer one is rebased onto it (a sibling, not a descendant: the rebase
# compares both views); both restore bit for bit, verify passes; the new
# full's checkpoint is gone (it was not the newest when the next backup was
# made), so a differential is taken from the expired full's checkpoint, and
# --auto stacks on the newest.
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

# Checkpoints follow the repository: backup 1's checkpoint went when backup
# 2 was made, but the expired full's stays as the new full's differential
# base: a differential is taken from it (a superset of what changed since
# backup 1) and stacks on backup 1; --auto stacks on the newest.
c0=$(jq -r '.backups[0].differential_base' "$TMPD/list.json")
test "$c0" != null
pf_put 0x55 10M 1M
pf_backup 3 --differential
test "$(jq -r '.level, .since' "$out" | tr '\n' ' ')" = "differential $c0 "
vckpt --json list-backups "$dom" --repo "$R" |
    jq -e --arg p "$(cat "$TMPD/id1")" '.backups[-1].parent == $p'
pf_restore_ok 3
pf_put 0x56 11M 1M
pf_backup 4 --auto
test "$(jq -r '.level, .since' "$out" | tr '\n' ' ')" = \
     "incremental $(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[2].checkpoint') "
pf_restore_ok 4
