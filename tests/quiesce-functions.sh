# vckpt test suite: shared setup of the quiesce scenarios on a real Linux
# guest (test-quiesce-*.sh, one scenario per file).
#
# Usage, at the top of a scenario:
#
#   #!/usr/bin/env bash
#   . "${srcdir:-.}/quiesce-functions.sh"
#   set -e -x
#   quiesce_setup
#
# quiesce_setup starts a lab with the running guest $dom (lab-guest.sh,
# with its agent), the repository $R, and VCKPT_LOCK_DIR a private
# directory ($LOCKS), where the freeze marker $MARKER
# (UUID.frozen) lives.
#
# Functions:
#   fsfreeze_status         the guest agent's guest-fsfreeze-status
#                           ("frozen" or "thawed")
#   wait_thawed SECONDS     poll until the guest is thawed, fail after
#                           SECONDS (the bound a guard must keep)
#   start_backup ARGS...    run the binary itself in the background
#                           (stdout $TMPD/o, stderr $TMPD/e), set $pid
#   (wait_stopped PID: functions.sh)
#   checkpoints             $dom's checkpoints, sorted, "a b "

. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/lab-guest.sh"
requires_root
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom=q1
R=$TMPD/repo
LOCKS=$TMPD/locks
export VCKPT_LOCK_DIR=$LOCKS

quiesce_setup ()
{
    lab_guest_requires
    lab_start
    lab_guest_build
    mkdir -m 0700 "$LOCKS"
    lab_guest_define "$dom"
    lab_guest_start "$dom"
    MARKER=$LOCKS/$(virsh -q domuuid "$dom").frozen
    # Never leave the guest frozen for the lab's shutdown.
    cleanup_fn virsh domfsthaw "$dom"
}

fsfreeze_status ()
{
    lab_guest_agent "$dom" '{"execute":"guest-fsfreeze-status"}' | jq -r .return
}

wait_thawed ()
{
    local i
    for (( i = 0; i < $1 * 10; i++ )); do
        [ "$(fsfreeze_status)" = thawed ] && return 0
        sleep 0.1
    done
    fail "the guest is still frozen after $1 s"
}

start_backup ()
{
    # The binary itself, not the vckpt() wrapper: $! is its pid.
    "$VCKPT" "$@" > "$TMPD/o" 2> "$TMPD/e" &
    pid=$!
}


checkpoints () { virsh -q checkpoint-list "$dom" --name | sort | tr '\n' ' '; }
