#!/usr/bin/env bash
# Checkpoints follow the repository after every backup: five backups
# --auto (and one --differential) of a running domain leave at most two of
# vckpt's checkpoints (the newest backup's, its chain's full's), a
# checkpoint made with virsh is untouched, and every backup restores bit
# for bit; the next --auto is incremental from the newest.
. "${srcdir:-.}/prune-functions.sh"
pf_setup 16M
pf_put 0x61 0 2M
pf_backup 0 --full
virsh -q checkpoint-create-as "$dom" foreign >/dev/null
for n in 1 2 3 4 5; do
    pf_put "0x6$n" "${n}M" 1M
    if [ "$n" = 3 ]; then pf_backup "$n" --differential; else pf_backup "$n" --auto; fi
    ck=$(jq -r .checkpoint "$out")
    full=$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[0].checkpoint')
    virsh -q checkpoint-list "$dom" --name | sort > "$TMPD/left"
    printf '%s\n' "$full" "$ck" foreign | sort -u > "$TMPD/want"
    diff "$TMPD/want" "$TMPD/left" || fail "after backup $n: unexpected checkpoints"
done
for n in 0 1 2 3 4 5; do
    pf_restore_ok "$n"
done
pf_put 0x6a 9M 1M
pf_backup 6 --auto
test "$(jq -r .level "$out")" = incremental
pf_restore_ok 6
