#!/usr/bin/env bash
# restore --instant stopped by SIGTERM or SIGINT undoes what it made, as a
# failure does: exit 6, no overlay in --to, no instant record in the
# repository (so prune is not held back by it), no domain defined.  Held
# before its record and overlays (instant-overlays) and after the domain
# was defined (instant-defined).  Then the same restore runs to the end.
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/drill-functions.sh"
set -e -x
requires_root
instant_base 16M 0x61 1M
I=$TMPD/inst
mkdir "$I"

held ()   # held POINT SIGNAL: run restore --instant to POINT, signal it, continue it
{
    hold_at "$1" "$VCKPT" restore "$dom" --instant --define n1 --to "$I" --repo "$R"
    release "$2"
    test "$rc" -eq 6 || fail "restore --instant stopped at $1 by $2 exited $rc, expected 6"
    grep -q "interrupted by signal .*: the instant recovery was undone" "$TMPD/e"
    if virsh -q list --all --name | grep -qx n1; then fail "a domain n1 was left ($1)"; fi
    test -z "$(ls -A "$I")" || fail "left in $I: $(ls -A "$I")"
    if [ -e "$R/$dom/instant.json" ]; then
        jq -e '.domains | length == 0' "$R/$dom/instant.json" || fail "an instant record was left ($1)"
    fi
}
held instant-overlays TERM
held instant-defined INT

expect_exit 0 vckpt restore "$dom" --instant --define n1 --to "$I" --repo "$R"
test "$(lab_domain_state n1)" = running
