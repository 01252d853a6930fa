#!/usr/bin/env bash
# The README demo (tests/demo.sh) fails, showing why, when the real guest
# cannot be built for a reason other than no network (here its cache
# directory cannot be created); only lab_guest_build's skip (nothing cached,
# apt-get download failing) makes it say "skipped" and succeed.
. "${srcdir:-.}/functions.sh"
set -e -x
requires_root
lab_requires
touch "$TMPD/not-a-directory"
rc=0
LAB_GUEST_CACHE=$TMPD/not-a-directory/guest "$abs_top_srcdir/tests/demo.sh" \
    >"$TMPD/out" 2>"$TMPD/err" || rc=$?
cat "$TMPD/out"
cat "$TMPD/err" >&2
test "$rc" -eq 1 || fail "demo.sh exited $rc, expected 1"
# The first part ran to the end; the guest part names the real error.
assert_grep 'restored vda.qcow2 is identical' "$TMPD/out"
assert_grep "lab_guest_build: cannot create $TMPD/not-a-directory/guest" "$TMPD/err"
assert_grep 'FAIL: building the real guest failed \(exit 1\)' "$TMPD/err"
assert_no_grep 'skipped' "$TMPD/out"
