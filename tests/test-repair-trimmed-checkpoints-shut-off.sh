#!/usr/bin/env bash
# A shut-off domain undefined and defined again (moved to another host,
# restored from its XML): its images hold the bitmaps of the checkpoints
# the repository's next backups need (the newest backup's and its chain's
# full's, or that full's differential base after a prune), and no others:
# vckpt's own "checkpoints follow" deleted the ones between, so the newest
# one's recorded parent is gone.  repair --repo redefines both, the newest
# as a child of the other (the parent libvirt would now report), and
# removes nothing; the next --auto (the offline job) is an incremental from
# the newest, and restores what the guest wrote.  After chains of 2 (with a
# prune that makes the newest the full), 5 and 10 backups (with a prune
# that gives the chain a differential base).
. "${srcdir:-.}/repair-functions.sh"
rp_setup
img=$(rp_img)

# The domain defined again from its XML: checkpoint metadata gone.
redefine_domain ()
{
    lab_domain_stop "$dom"
    virsh dumpxml --inactive "$dom" > "$TMPD/dom.xml"
    virsh undefine "$dom" --checkpoints-metadata
    virsh define "$TMPD/dom.xml"
    test -z "$(rp_checkpoints)"
}

for n in 2 5 10; do
    rp_chain "$n"
    case "$n" in
        2) keep=1 ;;
        10) keep=4 ;;
        *) keep= ;;
    esac
    if [ -n "$keep" ]; then
        expect_exit 0 vckpt --json prune "$dom" --repo "$R" --keep-last "$keep"
        jq -e '[.backups[] | select(.promoted)] | length == 1' "$out"
    fi
    next=$(rp_next)
    set -- $next
    newest=$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[-1].checkpoint')
    other=${1:-}; [ "$other" != "$newest" ] || other=${2:-}
    test "$(rp_checkpoints)" = "$next"

    redefine_domain
    test "$(lab_bitmaps "$img" | sort | tr '\n' ' ')" = "$next"
    expect_exit 0 vckpt --json repair "$dom" --repo "$R"
    if [ -n "$other" ]; then
        jq -e --arg o "$other" --arg n "$newest" \
           '[.steps[] | {action, state, checkpoint, parent}] ==
            [{"action": "redefine-checkpoint", "state": "done", "checkpoint": $o, "parent": null},
             {"action": "redefine-checkpoint", "state": "done", "checkpoint": $n, "parent": $o}]' "$out"
        test "$(rp_parent "$newest")" = "$other"
    else
        # The newest is its chain's full: one checkpoint, a root.
        jq -e --arg n "$newest" '[.steps[] | {action, state, checkpoint, parent}] ==
            [{"action": "redefine-checkpoint", "state": "done", "checkpoint": $n, "parent": null}]' "$out"
    fi
    jq -e '.next_backup.full == false and .failed == 0' "$out"
    test "$(rp_checkpoints)" = "$next"
    test "$(lab_bitmaps "$img" | sort | tr '\n' ' ')" = "$next"
    test -z "$(rp_parent "${other:-$newest}")"

    # The next backup, while the domain is still shut off (offline job).
    qemu-io -f qcow2 -c "write -P 0xe1 7M 1M" "$img" >/dev/null
    qemu-io -f qcow2 -c "write -P 0xe1 7M 1M" "$TMPD/model.qcow2" >/dev/null
    rp_backup --auto
    jq -e --arg n "$newest" '.level == "incremental" and .since == $n' "$out"
    rp_restore_check
    if [ -n "$other" ]; then
        rp_backup --differential
        jq -e --arg o "$other" '.level == "differential" and .since == $o' "$out"
        rp_restore_check
    fi
    lab_domain_start "$dom"
done
