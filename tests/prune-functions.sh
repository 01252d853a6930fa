# Shared set-up of the prune tests (tests/prune.am).
#
#   . "${srcdir:-.}/prune-functions.sh"
#
# Sources functions.sh, turns on tracing and errexit, and defines:
#   pf_setup [SIZE]            start a lab, define and start domain $dom with
#                              one disk (default 16M) and a model image
#   pf_put PATTERN OFF LEN     write to the guest and the model
#   pf_backup N ARGS...        back up (ARGS: --full, --auto, ...) as point N:
#                              the model is kept as $TMPD/mN.qcow2 and the
#                              backup's id as $TMPD/idN
#   pf_set_times TIME...       rewrite the recorded start time of each backup
#                              of the manifest, in order ("2026-11-01 03:00",
#                              UTC): how the tests control the dates the
#                              rules see
#   pf_ids                     the ids of the manifest, one a line
#   pf_restore_ok N            restore point N (by its id) and compare it
#                              with the model $TMPD/mN.qcow2, bit for bit
#   pf_vckpt ARGS...           vckpt bounded by `timeout` (valgrind aware)
#   pf_clock SHIFT CMD...      run CMD (a function too) with the clock of the
#                              programs it starts off by SHIFT seconds
#                              (tests/clockshift.so preloaded): a wrong host
#                              clock, as vckpt sees it
. "${srcdir:-.}/functions.sh"
set -e -x
requires_root
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom=pf
R=$TMPD/repo

pf_vckpt ()
{
    if [ -n "${VCKPT_VALGRIND:-}" ]; then
        # shellcheck disable=SC2086
        timeout -k 5 600 valgrind --error-exitcode=119 --leak-check=full \
                --errors-for-leak-kinds=definite --quiet \
                ${VCKPT_VALGRIND_OPTS:-} "$VCKPT" "$@"
    else
        timeout -k 5 120 "$VCKPT" "$@"
    fi
}

pf_clock ()
{
    local by=$1 so=${abs_top_builddir:-..}/tests/clockshift.so
    shift
    test -f "$so" || fail "$so was not built (make -C tests clockshift.so)"
    LD_PRELOAD="$so${LD_PRELOAD:+:$LD_PRELOAD}" VCKPT_TEST_CLOCK_SHIFT="$by" "$@"
}

pf_setup ()
{
    lab_start
    lab_domain_define "$dom" --disk "${1:-16M}"
    lab_domain_start "$dom"
    qemu-img create -q -f qcow2 "$TMPD/model.qcow2" "${1:-16M}"
}

pf_put ()
{
    lab_write "$dom" vda "$1" "$2" "$3"
    qemu-io -f qcow2 -c "write -P $1 $2 $3" "$TMPD/model.qcow2" >/dev/null
}

pf_backup ()
{
    local n=$1
    shift
    expect_exit 0 vckpt --json backup "$dom" --repo "$R" "$@"
    jq -r .id "$out" > "$TMPD/id$n"
    cp "$TMPD/model.qcow2" "$TMPD/m$n.qcow2"
}

pf_set_times ()
{
    local m="$R/$dom/manifest.xml" args=() t
    for t in "$@"; do
        args+=("$(date -u -d "$t" +%s)")
    done
    awk -v list="${args[*]}" '
        BEGIN { n = split(list, t, " ") }
        /<start>[0-9]+<\/start>/ { i++; if (i > n) { print "too few times" > "/dev/stderr"; exit 1 }
                                   sub(/<start>[0-9]+<\/start>/, "<start>" t[i] "</start>") }
        { print }
        END { if (i != n) { print "manifest has " i " backups, " n " times given" > "/dev/stderr"; exit 1 } }
    ' "$m" > "$m.new"
    mv "$m.new" "$m"
}

pf_ids ()
{
    vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[].id'
}

pf_restore_ok ()
{
    local n=$1 id
    id=$(cat "$TMPD/id$n")
    rm -rf "$TMPD/to$n"
    mkdir "$TMPD/to$n"
    expect_exit 0 pf_vckpt restore "$dom" --repo "$R" --at "$id" --to "$TMPD/to$n"
    qemu-img compare -q "$TMPD/m$n.qcow2" "$TMPD/to$n/vda.qcow2" ||
        fail "point $n ($id) does not restore what was written by then"
}
