#!/usr/bin/env bash
# libvirt lost the checkpoint metadata of a running domain (libvirt
# reinstalled, its state directory restored from an old copy): QEMU still
# holds the bitmaps of the checkpoints the repository's next backups need
# (the newest backup's and its chain's full's, or that full's differential
# base after a prune), while vckpt's own "checkpoints follow" deleted the
# ones between, so the newest one's recorded parent is gone.  repair --repo
# redefines both, libvirt checking QEMU's bitmaps, the newest as a child of
# the other (the parent libvirt would now report); the next --auto is an
# incremental from the newest (and a --differential from the other), and
# restores what the guest wrote.  After chains of 2, 5 (with a prune that
# makes a later point the full) and 10 backups.
. "${srcdir:-.}/repair-functions.sh"
rp_setup

# libvirt reinstalled under the running guest: its checkpoint metadata gone.
lose_metadata ()
{
    lab_daemon_kill TERM
    rm -rf "$LAB/lib/qemu/checkpoint/$dom"
    lab_daemon_restart
    test -z "$(rp_checkpoints)"
    test "$(lab_domain_state "$dom")" = running
}

for n in 2 5 10; do
    rp_chain "$n"
    if [ "$n" = 5 ]; then
        expect_exit 0 vckpt --json prune "$dom" --repo "$R" --keep-last 3
        jq -e '[.backups[] | select(.promoted)] | length == 1' "$out"
    fi
    next=$(rp_next)
    set -- $next
    newest=$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[-1].checkpoint')
    other=$1; [ "$other" != "$newest" ] || other=$2
    test "$(rp_checkpoints)" = "$next"

    lose_metadata
    expect_exit 0 vckpt --json repair "$dom" --repo "$R"
    jq -e --arg o "$other" --arg n "$newest" \
       '[.steps[] | {action, state, checkpoint, parent}] ==
        [{"action": "redefine-checkpoint", "state": "done", "checkpoint": $o, "parent": null},
         {"action": "redefine-checkpoint", "state": "done", "checkpoint": $n, "parent": $o}]' "$out"
    jq -e '.next_backup.full == false and .failed == 0' "$out"
    test "$(rp_checkpoints)" = "$next"
    test "$(rp_parent "$newest")" = "$other"
    test -z "$(rp_parent "$other")"

    rp_put 0xe1 7M 1M
    rp_backup --auto
    jq -e --arg n "$newest" '.level == "incremental" and .since == $n' "$out"
    rp_restore_check
    rp_put 0xe2 9M 1M
    rp_backup --differential
    jq -e --arg o "$other" '.level == "differential" and .since == $o' "$out"
    rp_restore_check
done

# QEMU lost the newest one's bitmap too (libvirt cannot tell): libvirt
# refuses to redefine it, repair redefines the other alone, says the newest
# is not repaired and the next backup is a new full chain, and exits 0;
# --auto then takes a full backup.
next=$(rp_next)
set -- $next
newest=$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[-1].checkpoint')
other=$1; [ "$other" != "$newest" ] || other=$2
lose_metadata
node=$(virsh qemu-monitor-command "$dom" '{"execute":"query-block"}' |
       jq -r '.return[] | select(.device == "" or .qdev != null) | .inserted["node-name"]' | head -1)
virsh qemu-monitor-command "$dom" \
      "{\"execute\":\"block-dirty-bitmap-remove\",\"arguments\":{\"node\":\"$node\",\"name\":\"$newest\"}}"
expect_exit 0 vckpt --json repair "$dom" --repo "$R"
jq -e --arg o "$other" '[.steps[] | {action, state, checkpoint}] ==
    [{"action": "redefine-checkpoint", "state": "done", "checkpoint": $o}]' "$out"
jq -e --arg n "$newest" '[.not_repaired[] | select(.checkpoint == $n) | .code] ==
    ["checkpoint-not-found"]' "$out"
jq -e '.next_backup.full == true and .failed == 0' "$out"
test "$(rp_checkpoints)" = "$other "
rp_put 0xe3 11M 1M
rp_backup --auto
jq -e '.level == "full"' "$out"
rp_restore_check
