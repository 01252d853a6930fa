# Shared set-up of the tests of runs over many domains (tests/fleet.am).
#
#   . "${srcdir:-.}/fleet-functions.sh"
#
# Sources functions.sh, turns on tracing and errexit, and defines:
#   fleet_setup NAME...     start a lab, define and start each domain (one
#                           16M disk), write a pattern of its own to each
#                           (0x41, 0x42, ... at 0, 1M long) and keep a model
#                           image of it in $TMPD/model-NAME.qcow2; $R is
#                           the repository, VCKPT_LOCK_DIR a private
#                           directory of host locks ($LOCKS)
#   fleet_restore_check NAME   restore NAME's newest backup and compare it
#                           bit for bit with its model
. "${srcdir:-.}/functions.sh"
set -e -x
requires_root
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

R=$TMPD/repo
LOCKS=$TMPD/locks
export VCKPT_LOCK_DIR=$LOCKS

fleet_setup ()
{
    local name i=0 pat
    lab_start
    mkdir -m 0700 "$LOCKS"
    for name in "$@"; do
        pat=$(printf '0x%02x' $((0x41 + i)))
        i=$((i + 1))
        lab_domain_define "$name" --disk 16M
        lab_domain_start "$name"
        lab_write "$name" vda "$pat" 0 1M
        qemu-img create -q -f qcow2 "$TMPD/model-$name.qcow2" 16M
        qemu-io -f qcow2 -c "write -P $pat 0 1M" "$TMPD/model-$name.qcow2" >/dev/null
    done
}

fleet_restore_check ()
{
    local to="$TMPD/restored-$1"
    mkdir "$to"
    vckpt -q restore "$1" --repo "$R" --to "$to"
    qemu-img compare -q "$TMPD/model-$1.qcow2" "$to/vda.qcow2" ||
        fail "restore of $1 differs from what was written"
}

# fleet_held_locks: how many host locks are held now (a holder writes its
# pid into the file; a clean release empties it).
fleet_held_locks ()
{
    local f n=0
    for f in "$LOCKS"/*.lock; do
        [ -s "$f" ] && n=$((n + 1))
    done
    echo "$n"
}

# fleet_hold_readers NAME...: hold the repository lock of each domain
# shared, as vckpt verify does, until fleet_release_readers: a backup of
# it then takes its host lock and waits for the readers.
fleet_hold_readers ()
{
    local name cmd="while [ -e '$TMPD/hold' ]; do sleep 0.05; done"
    touch "$TMPD/hold"
    cleanup_fn rm -f "$TMPD/hold"
    for name in "$@"; do
        flock -s "$R/$name/lock" sh -c "$cmd" &
        wait_for 10 "a reader holding $name's repository lock" \
                 eval "! flock -n -x '$R/$name/lock' true"
    done
}
fleet_release_readers () { rm -f "$TMPD/hold"; }
