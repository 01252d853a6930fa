#!/usr/bin/env bash
# A weekly-full/daily-differential schedule with a nightly prune: each
# prune expires the chain's full (--keep-last 2) and makes the next point
# the full, whose own checkpoint went when the backup after it was made.
# Its differentials are then taken from the expired full's checkpoint (its
# bitmaps hold every write since an earlier moment: a superset), which
# prune keeps as the new full's differential base.  Every night, validate
# --repo answers for each level exactly what backup (a dry run, then the
# real one) does; every point kept restores bit for bit; the checkpoints
# left are the newest backup's and the base.  Without the base a
# differential is refused (checkpoint-not-found) and validate predicts it.
. "${srcdir:-.}/prune-functions.sh"
pf_setup 16M

ckpt_of () { jq -r --arg id "$1" '.backups[] | select(.id == $id) | .checkpoint' "$TMPD/list.json"; }
list () { vckpt --json list-backups "$dom" --repo "$R" > "$TMPD/list.json"; }
checkpoints () { virsh -q checkpoint-list "$dom" --name | sort | tr '\n' ' '; }

# predict LEVEL [CHECKPOINT]: validate --repo and backup --dry-run agree on
# the verdict (exit status) and on the checkpoint the backup is taken from;
# prints the status.  LEVEL: full, differential, auto, incremental.
predict ()
{
    local vrc=0 brc=0 vck bck v b
    case "$1" in
        full|differential) v=(--"$1"); b=(--"$1") ;;
        auto) v=(); b=(--auto) ;;
        incremental) v=(--checkpoint "$2"); b=(--incremental "$2") ;;
    esac
    vckpt --json validate "$dom" --repo "$R" "${v[@]}" > "$TMPD/v.json" || vrc=$?
    vckpt --json backup "$dom" --repo "$R" --dry-run "${b[@]}" > "$TMPD/b.json" || brc=$?
    case "$vrc" in 0|4) ;; *) fail "validate ${v[*]} exited with $vrc" ;; esac
    test "$vrc" = "$brc" || fail "validate ${v[*]} exits $vrc, backup --dry-run ${b[*]} exits $brc"
    vck=$(jq -r .checkpoint "$TMPD/v.json")
    if [ "$brc" = 0 ]; then
        bck=$(jq -r .since "$TMPD/b.json")
        test "$vck" = "$bck" ||
            fail "validate ${v[*]} checks checkpoint $vck, backup ${b[*]} would be taken from $bck"
    fi
    echo "$vrc"
}

pf_put 0x51 0 4M
pf_backup 0 --full
pf_put 0x52 4M 1M
pf_backup 1 --differential
pf_put 0x53 5M 1M
pf_backup 2 --differential
list
c0=$(ckpt_of "$(cat "$TMPD/id0")")

for night in 3 4; do
    # The nightly prune: the full expires, the oldest point kept becomes
    # the full, and its differential base is the expired full's
    # checkpoint, which stays; the other checkpoints are gone.
    expect_exit 0 pf_vckpt --json prune "$dom" --repo "$R" --keep-last 2
    list
    test "$(jq -r '[.backups[].level] | join(" ")' "$TMPD/list.json")" = "full differential"
    test "$(jq -r '.backups[0].differential_base' "$TMPD/list.json")" = "$c0"
    test "$(checkpoints)" = "$(printf '%s\n' "$c0" "$(jq -r '.backups[1].checkpoint' "$TMPD/list.json")" | sort | tr '\n' ' ')"
    pf_restore_ok $((night - 2))
    expect_exit 0 pf_vckpt verify "$dom" --repo "$R"

    # Every level: validate predicts the backup.
    test "$(predict full)" = 0
    test "$(predict differential)" = 0
    test "$(jq -r .checkpoint "$TMPD/v.json")" = "$c0"
    test "$(predict auto)" = 0
    test "$(predict incremental "$(jq -r '.backups[1].checkpoint' "$TMPD/list.json")")" = 0
    test "$(predict incremental "$(jq -r '.backups[0].checkpoint' "$TMPD/list.json")")" = 4
    assert_finding "$TMPD/v.json" checkpoint-not-found

    pf_put "0x5$night" "$((night + 3))M" 512K
    pf_put 0x60 0 64K
    pf_backup "$night" --differential
    jq -e --arg c "$c0" '.level == "differential" and .since == $c' "$out"
    vckpt --json list-backups "$dom" --repo "$R" |
        jq -e --arg p "$(jq -r '.backups[0].id' "$TMPD/list.json")" '.backups[-1].parent == $p'
    pf_restore_ok "$night"
done

# An --auto between two differentials changes nothing for them.
pf_put 0x71 12M 1M
pf_backup 5 --auto
jq -e '.level == "incremental"' "$out"
pf_put 0x72 13M 1M
pf_backup 6 --differential
jq -e --arg c "$c0" '.since == $c' "$out"
pf_restore_ok 5
pf_restore_ok 6

# The base deleted behind vckpt's back: both refuse the differential, for
# the same reason; --auto still stacks on the newest.
virsh checkpoint-delete "$dom" "$c0"
test "$(predict differential)" = 4
assert_finding "$TMPD/v.json" checkpoint-not-found checkpoint="$c0"
expect_exit 4 vckpt --json backup "$dom" --repo "$R" --differential
assert_finding "$out" checkpoint-not-found
test "$(predict auto)" = 0
