# vckpt benchmarks: what every bench-*.sh script starts with.  Source it
# as `. "$(dirname "$0")/bench-lib.sh"` right after `set -e`.
#
# Sets: here (bench/), srcdir (tests/), abs_top_builddir, VCKPT_XMLDIR,
# RUNS (${RUNS:-$BENCH_RUNS}, default 3); loads tests/functions.sh (the lab).
# Helpers:
#   now                  seconds since the epoch, with nanoseconds
#   median               the median of the numbers on stdin, one per line
#   ratio A B            A / B with two decimals
#   peak_rss CMD...      run CMD (output discarded), print its peak RSS in KiB
#                        (the largest of the process and each child it waited for)
here=$(cd "$(dirname "$0")" && pwd)
: "${abs_top_builddir:=$(cd "$here/.." && pwd)}"
export abs_top_builddir
srcdir=$here/../tests
. "$srcdir/functions.sh"
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$here/../xml}
RUNS=${RUNS:-${BENCH_RUNS:-3}}

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
peak_rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
