# Shared set-up of the tests of copies in a restic repository (restic.am).
#
#   . "${srcdir:-.}/restic-functions.sh"
#
# Sources backup-functions.sh (the five points of 'web 1' in $R, models
# $TMPD/mN-vda.qcow2 and $TMPD/mN-vdb.qcow2) and defines:
#   RR, RP                 the restic repository ($TMPD/restic) and its
#                          password file
#   rs_restic ARGS...      restic itself on $RR with $RP (the test's look)
#   rs_init                make the restic repository
#   rs_copy [CODE]         copy $dom from $R into restic:$RR; expect exit
#                          CODE (default 0), the JSON result in $out
#   rs_snapshots           the ids of $dom's snapshots in $RR, oldest first
#   rs_restore_point N SNAP restore k$N from snapshot SNAP (or "" for the
#                          newest) into $TMPD/rN and compare both disks
#                          bit for bit with the models of point N; nothing
#                          else is left in $TMPD/rN
# restic's cache is in $TMPD (RESTIC_CACHE_DIR), not in root's home.
. "${srcdir:-.}/backup-functions.sh"
requires restic version

RR=${RR:-$TMPD/restic}
RP=$TMPD/restic.pw
echo "a restic password for vckpt's tests" >"$RP"
chmod 0600 "$RP"
export RESTIC_CACHE_DIR=$TMPD/restic-cache
# test-restic-copy copies through lib/restic.c (vk_restic_copy) until
# vckpt copy --to restic:... dispatches to it.
RESTIC_COPY=${abs_top_builddir:-..}/tests/test-restic-copy

rs_restic ()
{
    restic --repo "$RR" --password-file "$RP" "$@"
}

rs_init ()
{
    rs_restic init -q
}

rs_copy ()
{
    expect_exit "${1:-0}" "$RESTIC_COPY" "$R" "$dom" "restic:$RR" "$RP"
}

rs_snapshots ()
{
    rs_restic snapshots --json --tag "vckpt,domain=$dom" | jq -r '.[].id'
}

rs_restore_point ()
{
    local n="$1" snap="$2" d
    mkdir "$TMPD/r$n"
    expect_exit 0 vckpt restore "$dom" --from "restic:$RR" --password-file "$RP" \
        ${snap:+--snapshot "$snap"} --at "k$n" --to "$TMPD/r$n"
    for d in vda vdb; do
        qemu-img compare -q "$TMPD/m$n-$d.qcow2" "$TMPD/r$n/$d.qcow2" ||
            fail "restore from restic at k$n: $d differs from what was written"
    done
    assert_eq "vda.qcow2 vdb.qcow2" "$(ls -A "$TMPD/r$n" | tr '\n' ' ' | sed 's/ $//')" \
        "what restore --from left in $TMPD/r$n"
}
