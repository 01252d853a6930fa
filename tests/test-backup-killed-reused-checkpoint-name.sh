#!/usr/bin/env bash
# A backup may not reuse the checkpoint name of an earlier, committed
# backup whose checkpoint was deleted in between (refused, status 2,
# nothing started).  A checkpoint an admin creates under the name of a
# backup that was stopped before its job started is never touched by the
# rollback.
. "${srcdir:-.}/faults-functions.sh"
set -e -x
faults_setup
faults_fill

expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name dup
virsh checkpoint-delete "$dom" dup
# A name the repository recorded for an earlier backup is refused before
# anything starts: the two backups' saved checkpoint XML would be
# ambiguous, and a redefine from the repository could bring the wrong one
# back.
expect_exit 2 vckpt backup "$dom" --repo "$R" --full --name dup
assert_grep "backup .* of the repository already ended at a checkpoint named 'dup'" "$err"
test ! -e "$R/$dom/pending.xml"
assert_eq "" "$(checkpoints)"

expect_exit 0 vckpt backup "$dom" --repo "$R" --auto --name a1
assert_eq "a1 " "$(checkpoints)"
test "$(nbackups)" -eq 2

# Catch a run between its journal and its job: start it, stop it (SIGSTOP)
# as soon as the journal appears, and check libvirt has neither its job nor
# its checkpoint yet.  If the job was quicker, the run is killed, the next
# run cleans up, and we try again under another name.
hold_before_job ()
{
    local name="$1" i
    start_backup backup "$dom" --repo "$R" --full --name "$name"
    # Not wait_for: its 50 ms steps would mostly miss the short time
    # between the journal and the job; this polls every 5 ms.
    for (( i = 0; i < 2000; i++ )); do
        test -e "$R/$dom/pending.xml" && break
        sleep 0.005
    done
    test -e "$R/$dom/pending.xml" ||
        { cat "$TMPD/e" >&2; fail "run $name wrote no journal within 10 s"; }
    kill -STOP $pid
    if ! _backup_job_runs && ! virsh -q checkpoint-list "$dom" --name | grep -qx "$name"; then
        return 0
    fi
    kill -KILL $pid; wait $pid || true
    vckpt backup "$dom" --repo "$R" --full --name "skip-$name" >/dev/null 2>&1
    return 1
}
held=
for n in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    if hold_before_job "adm$n"; then held="adm$n"; break; fi
done
test -n "$held" || fail "never caught a run before its job in 20 tries"

# Killed before its job: its journal names $held, which an admin then
# creates.  The next run's rollback leaves the admin's checkpoint alone.
kill -KILL $pid
wait $pid || true
test -e "$R/$dom/pending.xml"
virsh checkpoint-create-as "$dom" "$held" >/dev/null
expect_exit 0 vckpt backup "$dom" --repo "$R" --auto --name a2
assert_grep "its checkpoint '$held' is not this backup's and was left alone" "$err"
virsh -q checkpoint-list "$dom" --name > "$TMPD/cks"
grep -qx "$held" "$TMPD/cks" || fail "the rollback deleted the admin's checkpoint"
test ! -e "$R/$dom/pending.xml"

# The name taken while a run prepares: libvirt refuses the job (the name
# exists), and the rollback leaves the admin's checkpoint alone.
held=
for n in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    if hold_before_job "clash$n"; then held="clash$n"; break; fi
done
test -n "$held" || fail "never caught a run before its job in 20 tries"
virsh checkpoint-create-as "$dom" "$held" >/dev/null
kill -CONT $pid
rc=0
wait $pid || rc=$?
assert_eq 1 "$rc" "exit status of the refused job"
assert_grep "checkpoint '$held' is not this backup's and was left alone" "$TMPD/e"
virsh -q checkpoint-list "$dom" --name > "$TMPD/cks"
grep -qx "$held" "$TMPD/cks" || fail "the rollback deleted the admin's checkpoint"
test ! -e "$R/$dom/pending.xml"
