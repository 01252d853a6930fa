#!/bin/sh
# Print the totals of the automake test logs of a built tree as one line,
# "LABEL: N passed, N failed, N skipped" (failed counts FAIL, ERROR and
# XPASS), after the last 80 lines of the log of every test that failed.
# With --counts, print only "PASSED FAILED SKIPPED" and no logs.
# Usage: scripts/suite-summary.sh [--counts] TREE [LABEL]
set -e
counts=
if [ "$1" = --counts ]; then
    counts=1
    shift
fi
tree=${1:?usage: suite-summary.sh [--counts] TREE [LABEL]}
label=${2:-suite}

pass=0 fail=0 skip=0
# n FIELD LOG: the number automake's summary gives for FIELD (0 if none).
n() {
    v=$(sed -n "s/^# $1: *//p" "$2" | head -1)
    echo "${v:-0}"
}
for log in "$tree"/tests/test-suite.log "$tree"/fuzz/test-suite.log; do
    test -f "$log" || continue
    pass=$((pass + $(n PASS "$log")))
    fail=$((fail + $(n FAIL "$log") + $(n ERROR "$log") + $(n XPASS "$log")))
    skip=$((skip + $(n SKIP "$log")))
done
if [ -n "$counts" ]; then
    echo "$pass $fail $skip"
    exit 0
fi
for trs in "$tree"/tests/*.trs "$tree"/fuzz/*.trs; do
    grep -qE ':test-result: (FAIL|ERROR|XPASS)' "$trs" 2>/dev/null || continue
    echo "=== $label: ${trs%.trs}.log (last 80 lines)"
    tail -80 "${trs%.trs}.log"
done
echo "$label: $pass passed, $fail failed, $skip skipped"
