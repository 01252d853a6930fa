# Shared set-up of the status tests (tests/status.am).
#
#   . "${srcdir:-.}/status-functions.sh"
#
# Sources functions.sh, turns on tracing and errexit, and defines:
#   st_setup NAME...        start a lab, define and start each domain (one
#                           8M disk, 1M written); $R is the repository
#                           (made 0711), empty
#   st_clock SHIFT CMD...   run CMD with the clock of the programs it starts
#                           SHIFT seconds ahead (tests/clockshift.so): the
#                           backups then look that much older
#   st_json ARGS...         vckpt --json status --repo $R ARGS, expecting
#                           exit status $want (default 0): the document in
#                           $out, checked to be one JSON document
#   st_domain NAME FILTER   jq FILTER applied to domain NAME's object of
#                           the document in $out (e.g. .state)
. "${srcdir:-.}/functions.sh"
set -e -x
requires_root
requires jq --version
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

R=$TMPD/repo
want=0

st_setup ()
{
    local name
    lab_start
    mkdir -m 0711 "$R"
    for name in "$@"; do
        lab_domain_define "$name" --disk 8M
        lab_domain_start "$name"
        lab_write "$name" vda 0x5a 0 1M
    done
}

st_clock ()
{
    local by=$1 so=${abs_top_builddir:-..}/tests/clockshift.so
    shift
    test -f "$so" || fail "$so was not built (make -C tests clockshift.so)"
    LD_PRELOAD="$so${LD_PRELOAD:+:$LD_PRELOAD}" VCKPT_TEST_CLOCK_SHIFT="$by" "$@"
}

st_json ()
{
    expect_exit "$want" vckpt --json status --repo "$R" "$@"
    test "$(jq -s length "$out")" -eq 1 || fail "not one JSON document"
}

st_domain ()
{
    jq -r --arg d "$1" ".repositories[].domains[] | select(.domain == \$d) | $2" "$out"
}
