# Helpers of the stop-signal tests (tests/signals.am): a stop signal
# (SIGINT, SIGTERM, SIGHUP, SIGQUIT) delivered at a precise moment of an
# operation, chosen by a system call the operation makes there.
#
#   sig_requires                  skip unless strace can trace here
#   sig_num SIG                   the number of SIG (INT -> 2)
#   sig_at SIG SYSCALL WHEN [PATH] -- CMD [ARGS...]
#                                 run CMD under strace, which sends SIG to
#                                 it when it enters its WHEN-th SYSCALL
#                                 (counting only calls on PATH, a file or
#                                 directory, by name or descriptor, if
#                                 given); exit status in $rc, standard
#                                 output and error in $TMPD/o and $TMPD/e
#   sig_held SIG HOOK -- CMD [ARGS...]
#                                 run CMD with VCKPT_TEST_HOOK=HOOK (it
#                                 stops itself there), send SIG, continue
#                                 it: for moments no system call marks
#   sig_stopped SIG               assert exit 6 and a message naming SIG
#   sig_too_late SIG              assert exit 0 and "came too late"
#
# Only CMD's main thread is traced (no -f): a child (qemu-img) or a thread
# never gets the signal, and their system calls do not count.
. "${srcdir:-.}/functions.sh"

STOP_SIGNALS="INT TERM HUP QUIT"

sig_requires ()
{
    requires strace -qq -o /dev/null true
    # SIGQUIT's default action dumps core: not into the build tree.  The
    # soft limit only: the lab's libvirtd inherits the hard one, and
    # libvirt 11 sets each QEMU's core limit, which fails (QEMU does not
    # start) if the hard limit was lowered and it may not raise it.
    ulimit -S -c 0
}

sig_num ()
{
    kill -l "$1"
}

sig_at ()
{
    local sig="$1" sc="$2" when="$3" path=()
    shift 3
    if [ "$1" != -- ]; then
        path=(-P "$1")
        shift
    fi
    [ "$1" = -- ] || fail "sig_at: -- expected before the command"
    shift
    rc=0
    strace -qq -o /dev/null "${path[@]}" -e trace="$sc" \
           -e inject="$sc:signal=SIG$sig:when=$when" "$@" >"$TMPD/o" 2>"$TMPD/e" || rc=$?
    echo "--- SIG$sig at $sc #$when${path:+ on ${path[1]}}: exit $rc; stderr:" >&2
    cat "$TMPD/e" >&2
}

sig_held ()
{
    local sig="$1" hook="$2"
    shift 2
    [ "$1" = -- ] || fail "sig_held: -- expected before the command"
    shift
    hold_at "$hook" "$@"
    echo "--- SIG$sig at hook $hook; stderr follows" >&2
    release "$sig"
    echo "--- SIG$sig at hook $hook: exit $rc" >&2
}

sig_stopped ()
{
    [ "$rc" -eq 6 ] || fail "SIG$1: exit $rc, expected 6 (interrupted, rolled back)"
    grep -q "interrupted by signal $(sig_num "$1")" "$TMPD/e" ||
        fail "SIG$1: no 'interrupted by signal $(sig_num "$1")' message"
}

sig_too_late ()
{
    [ "$rc" -eq 0 ] || fail "SIG$1 after the commit point: exit $rc, expected 0 (complete)"
    grep -q "signal $(sig_num "$1") came too late" "$TMPD/e" ||
        fail "SIG$1 after the commit point: no 'came too late' message"
}
