#!/usr/bin/env bash
# restore --instant and --finish create their files in --to: a symbolic
# link planted under the name after vckpt checked it is free is never
# followed (the file is made privately and renamed into place, never
# replacing anything); the target of the link is untouched and nothing is
# left.  (A --to other users can write is refused outright:
# test-stock-other-users-to-refused.sh; here the test plants the links.)
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/drill-functions.sh"
set -e -x
requires_root
instant_base 16M 0x61 1M
I=$TMPD/shared
mkdir -m 0755 "$I"
mkdir "$TMPD/fin"
chmod 0755 "$TMPD/fin"
echo precious > "$TMPD/precious"

# Hold --instant after its check, plant the link, let it go on.
run_held ()
{
    local point=$1 link=$2
    shift 2
    hold_at "$point" "$VCKPT" "$@"
    ln -s "$TMPD/precious" "$link"
    release
    return "$rc"
}
rc=0
run_held instant-overlays "$I/n1-vda.instant.qcow2" \
    restore "$dom" --instant --define n1 --to "$I" --repo "$R" || rc=$?
test "$rc" -eq 1 || fail "--instant over a planted link exited $rc, expected 1"
grep -q "already exists: never replaced" "$TMPD/e"
test "$(cat "$TMPD/precious")" = precious || fail "the link's target was written"
test -L "$I/n1-vda.instant.qcow2"
rm "$I/n1-vda.instant.qcow2"
if virsh -q list --all --name | grep -qx n1; then fail "a domain n1 was left"; fi
test -z "$(ls -A "$I")" || fail "left in $I: $(ls -A "$I")"

# Now for real, then --finish with a link planted at its destination.
expect_exit 0 vckpt restore "$dom" --instant --define n1 --to "$I" --repo "$R"
rc=0
run_held finish-copies "$TMPD/fin/n1-vda.qcow2" \
    restore --finish n1 --to "$TMPD/fin" --repo "$R" || rc=$?
test "$rc" -eq 1 || fail "--finish over a planted link exited $rc, expected 1"
test "$(cat "$TMPD/precious")" = precious || fail "the link's target was written"
test "$(lab_domain_state n1)" = running
# The domain still runs from the backup and can be finished elsewhere.
rm "$TMPD/fin/n1-vda.qcow2"
expect_exit 0 vckpt restore --finish n1 --to "$TMPD/fin" --repo "$R"
test "$(stat -c %a "$TMPD/fin/n1-vda.qcow2")" = 600
virsh destroy n1 >/dev/null
lab_expect_pattern "$TMPD/fin/n1-vda.qcow2" 0 1M 0x61
