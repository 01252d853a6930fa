# vckpt test suite: common functions, sourced by every shell test.
#
# Usage, at the top of a test:
#
#   #!/usr/bin/env bash
#   set -e -x
#   . "${srcdir:-.}/functions.sh"
#
# Sourcing this file creates a private temporary directory $TMPD, sets a
# single trap that runs the teardown registered with cleanup_fn on every
# exit path, defines the vckpt() wrapper and the assertion helpers, and
# loads lab.sh (the private libvirtd + QEMU lab).  It does not turn on
# tracing itself, so scripts like demo.sh stay quiet.
#
# Environment:
#   abs_top_builddir  set by the test harness; locates the built binary
#   VCKPT             the binary under test (default $abs_top_builddir/src/vckpt)
#   VCKPT_VALGRIND    if non-empty, vckpt() runs the binary under valgrind
#   VCKPT_VALGRIND_OPTS  extra valgrind options (e.g. --suppressions=FILE)
#   TMPDIR            where $TMPD is created (default /tmp)
#   KEEP_TMPD         if non-empty, $TMPD is kept for inspection

# Loaded once: a second source (bench-lib.sh, then a fixture file such as
# files-functions.sh that sources this file itself) keeps the first's
# $TMPD, lab and teardown.
if [ -n "${_vckpt_functions_loaded:-}" ]; then
    return 0
fi
_vckpt_functions_loaded=1

# Trace output (set -x) goes to the test's own stderr, never into a file a
# command's stderr is redirected to (expect_exit's $err).
exec {_xtrace_fd}>&2
BASH_XTRACEFD=$_xtrace_fd

# Stable messages for comparisons against golden files.
export LC_ALL=C
unset LANGUAGE

# The directory holding this file and lab.sh (works from a VPATH build).
_functions_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

: "${VCKPT:=${abs_top_builddir:-..}/src/vckpt}"

# requires CMD [ARGS...]
#
# Skip the test (exit 77) when CMD fails: a tool the test needs is absent.
# Not for working around failures of the code under test.
requires ()
{
    ( "$@" ) </dev/null >/dev/null 2>&1 || {
        echo "$0: SKIP: '$*' failed: test prerequisite is missing" >&2
        exit 77
    }
}

# requires_root
#
# Skip the test unless running as root (the lab needs mount namespaces).
requires_root ()
{
    if [ "$(id -u)" -ne 0 ]; then
        echo "$0: SKIP: test must run as root" >&2
        exit 77
    fi
}

# fail MSG...
#
# Report a test failure on stderr and exit 1.
fail ()
{
    echo "$0: FAIL: $*" >&2
    exit 1
}

# assert_eq EXPECTED ACTUAL [MSG]
#
# Fail unless the two strings are equal.
assert_eq ()
{
    if [ "$1" != "$2" ]; then
        fail "${3:-assert_eq}: expected '$1', got '$2'"
    fi
}

# assert_grep PATTERN FILE
#
# Fail unless FILE has a line matching the extended regular expression.
assert_grep ()
{
    if ! grep -E -q -e "$1" "$2"; then
        echo "--- $2:" >&2
        cat "$2" >&2
        fail "'$2' does not match $(printf '%q' "$1")"
    fi
}

# assert_no_grep PATTERN FILE
#
# Fail if FILE has a line matching the extended regular expression.
assert_no_grep ()
{
    # -a: a terminal transcript (script(1)) is text even with odd bytes.
    if grep -a -E -q -e "$1" "$2"; then
        echo "--- $2:" >&2
        cat "$2" >&2
        fail "'$2' unexpectedly matches $(printf '%q' "$1")"
    fi
}

# assert_finding FILE CODE [KEY=VALUE | KEY~REGEX | KEY=]...
# assert_no_finding FILE CODE [KEY=VALUE | KEY~REGEX | KEY=]...
#
# FILE holds the --json output of validate or verify (.findings) or of
# backup (.preflight.findings).  Fail unless (assert_no_finding: if) it
# has a finding with code CODE whose fields (severity, disk, image,
# bitmap, checkpoint, message, ...) satisfy every condition: KEY=VALUE
# equal, KEY~REGEX matching (jq's test(), PCRE-like), KEY= null.
# Findings are decided by their code, never by columns of the text.
_finding_filter ()
{
    local kv i=0
    _finding_args=(--arg code "$1")
    _finding_sel='.code == $code'
    shift
    for kv in "$@"; do
        i=$((i + 1))
        [[ "$kv" =~ ^([a-z_]+)([=~])(.*)$ ]] || fail "finding condition '$kv'?"
        if [ "${BASH_REMATCH[2]}" = "~" ]; then
            _finding_sel+=" and ((.${BASH_REMATCH[1]} // \"\") | test(\$v$i))"
        elif [ -z "${BASH_REMATCH[3]}" ]; then
            _finding_sel+=" and .${BASH_REMATCH[1]} == null"
        else
            _finding_sel+=" and .${BASH_REMATCH[1]} == \$v$i"
        fi
        _finding_args+=(--arg "v$i" "${BASH_REMATCH[3]}")
    done
}
_has_finding ()
{
    local file="$1"
    shift
    _finding_filter "$@"
    jq -e "${_finding_args[@]}" \
       "[(.findings // .preflight.findings // [])[] | select($_finding_sel)] != []" \
       "$file" >/dev/null
}
assert_finding ()
{
    if ! _has_finding "$@"; then
        echo "--- $1:" >&2
        cat "$1" >&2
        fail "'$1' has no finding $(printf '%q ' "${@:2}")"
    fi
}
assert_no_finding ()
{
    if _has_finding "$@"; then
        echo "--- $1:" >&2
        cat "$1" >&2
        fail "'$1' has a finding $(printf '%q ' "${@:2}")"
    fi
}

# expect_exit CODE CMD [ARGS...]
#
# Run CMD, fail unless it exits with exactly CODE.  Its stdout and stderr
# are left in the files named by $out and $err (inside $TMPD) and are
# echoed to stderr for the test log.
expect_exit ()
{
    local want="$1" rc=0
    shift
    out="$TMPD/out"
    err="$TMPD/err"
    "$@" >"$out" 2>"$err" || rc=$?
    echo "--- exit status $rc; stdout:" >&2
    cat "$out" >&2
    echo "--- stderr:" >&2
    cat "$err" >&2
    echo "---" >&2
    if [ "$rc" -ne "$want" ]; then
        fail "'$*' exited with $rc, expected $want"
    fi
}

# wait_for SECONDS WHAT CMD [ARGS...]
#
# Poll for a state: run CMD every 0.05 s until it succeeds; fail with
# "WHAT did not happen" if it never does within SECONDS.  Never sleep a
# fixed time to let something happen: wait for it with this.
wait_for ()
{
    local secs="$1" what="$2" i
    shift 2
    for (( i = 0; i < secs * 20; ++i )); do
        "$@" && return 0
        sleep 0.05
    done
    "$@" || fail "$what did not happen within $secs s"
}

# next_second
#
# Wait (polling) until the UTC second changes: backup ids are UTC seconds,
# and two backups in one second get "-2" ids.
next_second ()
{
    local s
    s=$(date -u +%s)
    wait_for 3 "the next second" _second_after "$s"
}
_second_after () { [ "$(date -u +%s)" -gt "$1" ]; }

# wait_stopped PID [SECONDS]
#
# Wait until process PID has stopped itself at its test hook
# (VCKPT_TEST_HOOK, lib/testhook.c); fail at once if it ends instead
# (showing $TMPD/e), or if it has not stopped within SECONDS (60).
wait_stopped ()
{
    local i s
    for (( i = 0; i < ${2:-60} * 20; i++ )); do
        s=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) ||
            { cat "$TMPD/e" >&2 || true; fail "process $1 ended before its test hook"; }
        [ "$s" = T ] && return 0
        sleep 0.05
    done
    fail "process $1 did not reach its test hook within ${2:-60} s"
}

# model_put DISK PATTERN OFFSET LENGTH
#
# Write PATTERN (a byte such as 0xab, or "zero") at OFFSET (LENGTH bytes)
# to disk DISK of domain $dom from inside the guest, and the same to its
# model image $TMPD/model-DISK.qcow2 (which the test made), so that a
# restore can be compared bit for bit with the model.
model_put ()
{
    lab_write "$dom" "$1" "$2" "$3" "$4"
    if [ "$2" = zero ]; then
        qemu-io -f qcow2 -c "write -z $3 $4" "$TMPD/model-$1.qcow2" >/dev/null
    else
        qemu-io -f qcow2 -c "write -P $2 $3 $4" "$TMPD/model-$1.qcow2" >/dev/null
    fi
}

# as_old_sha256 MANIFEST FILE...
#
# Make MANIFEST what a vckpt before XXH3-128 wrote: the record of each
# FILE (absolute) a <sha256> instead of its xxh3-128 <checksum> (failing
# if it has none), the manifest version 1.
as_old_sha256 ()
{
    local m="$1" f x s
    shift
    for f in "$@"; do
        x=$(xxh128sum <"$f" | cut -d' ' -f1)
        s=$(sha256sum <"$f" | cut -d' ' -f1)
        grep -q "<checksum type=\"xxh3-128\">$x</checksum>" "$m" || fail "no record $x of $f"
        sed -i "s|<checksum type=\"xxh3-128\">$x</checksum>|<sha256>$s</sha256>|" "$m"
    done
    sed -i 's|<manifest version="2">|<manifest version="1">|' "$m"
}

# killed_at POINT ARGS...
#
# Run vckpt ARGS with the test hook POINT set to kill it there (SIGKILL,
# as a crash would: VCKPT_TEST_HOOK=POINT:kill) and expect it killed.
killed_at ()
{
    local point="$1"
    shift
    VCKPT_TEST_HOOK=$point:kill expect_exit 137 vckpt "$@"
}

# hold_at POINT CMD [ARGS...]
#
# Run CMD (the binary itself, "$VCKPT", not the vckpt wrapper) in the
# background with VCKPT_TEST_HOOK=POINT, standard output and error in
# $TMPD/o and $TMPD/e, and wait until it has stopped there: its pid in
# $held.  Then act on what it holds, and release it.
hold_at ()
{
    local point="$1"
    shift
    VCKPT_TEST_HOOK=$point "$@" >"$TMPD/o" 2>"$TMPD/e" &
    held=$!
    wait_stopped "$held"
}

# release [SIGNAL]
#
# Send SIGNAL (if given) to the process hold_at holds, continue it and
# wait for its end: its exit status in $rc, its standard error copied to
# ours.
release ()
{
    rc=0
    [ -z "${1:-}" ] || kill "-$1" "$held"
    # After a KILL the shell may have reaped it already.
    kill -CONT "$held" 2>/dev/null || [ "${1:-}" = KILL ] || fail "process $held is gone"
    wait "$held" || rc=$?
    cat "$TMPD/e" >&2
}

# vckpt [ARGS...]
#
# Run the binary under test, under valgrind when $VCKPT_VALGRIND is set
# (exit status 119 then means a memory error or a definite leak).
vckpt ()
{
    if [ -n "${VCKPT_VALGRIND:-}" ]; then
        # shellcheck disable=SC2086
        valgrind --error-exitcode=119 --leak-check=full \
                 --errors-for-leak-kinds=definite --quiet \
                 ${VCKPT_VALGRIND_OPTS:-} "$VCKPT" "$@"
    else
        "$VCKPT" "$@"
    fi
}

# cleanup_fn CMD [ARGS...]
#
# Register CMD ARGS (quoted as given) to run when the test exits for any
# reason.  Hooks run in reverse order of registration, each in its own
# subshell with errexit off, so one failing step never stops the others.
# Hooks can read the test's exit status in $cleanup_status.
declare -a _cleanup_hooks=()
cleanup_fn ()
{
    local q
    q=$(printf '%q ' "$@")
    _cleanup_hooks+=("$q")
}

# The single EXIT trap: run the hooks, keep the test's exit status.
_run_cleanup_hooks ()
{
    local status=$? i
    # Hooks report what they do themselves; tracing them is mostly noise.
    set +e +x
    trap '' INT QUIT TERM HUP
    trap - EXIT
    echo "$0: running cleanup hooks, exit status $status" >&2
    export cleanup_status=$status
    for (( i = ${#_cleanup_hooks[@]} - 1; i >= 0; --i )); do
        ( set +e; eval "${_cleanup_hooks[i]}" ) ||
            echo "$0: cleanup hook failed: ${_cleanup_hooks[i]}" >&2
    done
    exit "$status"
}
trap _run_cleanup_hooks EXIT
# A signal becomes an ordinary exit (128 + signal number), so the EXIT
# trap runs exactly once.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 131' QUIT
trap 'exit 143' TERM

# _remove_tmpd DIR
#
# Remove the per-test directory unless KEEP_TMPD asks to keep it.
_remove_tmpd ()
{
    if [ -n "${KEEP_TMPD:-}" ]; then
        echo "$0: keeping $1" >&2
    else
        rm -rf "$1"
    fi
}

# The per-test temporary directory, removed at exit (registered first,
# so it runs last, after everything using it has been torn down).
TMPD=$(mktemp -d "${TMPDIR:-/tmp}/vckpt-test.XXXXXX")
# Traversable, not listable: QEMU runs as its own user (lab.sh) and must
# reach the images and repositories a test makes in here, as on a host.
chmod 0711 "$TMPD"
export TMPD
cleanup_fn _remove_tmpd "$TMPD"

. "$_functions_dir/lab.sh"
