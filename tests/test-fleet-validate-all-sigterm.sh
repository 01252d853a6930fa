#!/usr/bin/env bash
# validate --all, one process: a SIGTERM that comes before the first domain
# is validated starts none of them; the summary still comes, every domain
# "not started", exit 6.
. "${srcdir:-.}/fleet-functions.sh"
fleet_setup xa xb

VCKPT_TEST_HOOK=all-listed vckpt validate --all > "$TMPD/o" 2> "$TMPD/e" &
bg=$!
stopped_pid ()
{
    local p
    for p in "$bg" $(cat "/proc/$bg/task/$bg/children" 2>/dev/null); do
        if [ "$(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null)" = T ]; then
            echo "$p"
            return 0
        fi
    done
    return 1
}
wait_for 60 "vckpt stopped after listing the domains" stopped_pid
p=$(stopped_pid)
# Caught, so pending while stopped; handled once it runs again.
kill -TERM "$p"
kill -CONT "$p"
rc=0
wait "$bg" || rc=$?
cat "$TMPD/o" "$TMPD/e" >&2
test "$rc" -eq 6 || fail "validate --all exited with $rc, expected 6"
assert_grep '^xa +not started +- +- ' "$TMPD/o"
assert_grep '^xb +not started +- +- ' "$TMPD/o"
assert_grep '^2 domains: 0 valid, 2 failed$' "$TMPD/o"
assert_grep '^vckpt: validate xa: not started: interrupted by a signal$' "$TMPD/e"
