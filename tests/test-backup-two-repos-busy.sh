#!/usr/bin/env bash
# Two backups of one domain started together into two repositories: the
# second exits at once with the busy code (5) naming the first, which
# completes undisturbed; nothing of the second is left anywhere.
. "${srcdir:-.}/functions.sh"
set -e -x
lab_start
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom=tworepos
lab_domain_define "$dom" --disk 1G
lab_domain_start "$dom"
lab_write "$dom" vda 0x31 0 256M
lab_write "$dom" vda 0x32 256M 256M

# Whether libvirt runs a backup job of $dom; fails the test if $pid ended.
job_started ()
{
    virsh domjobinfo "$dom" | grep -q '^Operation: *Backup' && return 0
    kill -0 $pid 2>/dev/null || { cat "$TMPD/e" >&2; fail "the first run ended before its job started"; }
    return 1
}
"$VCKPT" backup "$dom" --repo "$TMPD/r1" --full --name one > "$TMPD/o" 2> "$TMPD/e" & pid=$!
wait_for 20 "the first run's backup job" job_started
# Hold the first run where it is (its job goes on in QEMU) so the second
# surely meets it, however slow its start (valgrind).
kill -STOP $pid
cleanup_fn kill -CONT $pid
expect_exit 5 vckpt backup "$dom" --repo "$TMPD/r2" --full --name two
kill -CONT $pid
assert_grep "locked by pid $pid \(a backup into $TMPD/r1, since " "$err"
test ! -e "$TMPD/r2"
# The lock is host-wide, private, keyed by the UUID.
lock=/run/vckpt/$(virsh domuuid "$dom" | head -1).lock
test "$(stat -c %a /run/vckpt)" = 700
test "$(stat -c %a "$lock")" = 600

rc=0; wait $pid || rc=$?
test $rc -eq 0 || { cat "$TMPD/e"; fail "the first run failed: exit $rc"; }
test "$(virsh -q checkpoint-list "$dom" --name | tr '\n' ' ')" = "one "

# Released: the second repository works now.
expect_exit 0 vckpt backup "$dom" --repo "$TMPD/r2" --full --name two
test ! -s "$lock"

# Generated checkpoint names never collide, even within one second.
expect_exit 0 vckpt --json backup "$dom" --repo "$TMPD/r2" --auto
a=$(jq -r .checkpoint "$out")
expect_exit 0 vckpt --json backup "$dom" --repo "$TMPD/r1" --full
b=$(jq -r .checkpoint "$out")
[[ "$a" =~ ^vckpt-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$ ]] || fail "unexpected name $a"
test "$a" != "$b"
