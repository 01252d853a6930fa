# Shared set-up of the restore, verify and repository tests (tests/restore.am).
#
#   . "${srcdir:-.}/restore-functions.sh"
#
# Sources functions.sh, turns on tracing and errexit, and defines:
#   rf_setup [DISK-OPTIONS...]   start a lab, define and start domain $dom
#                                (default one 16M disk), write 0x11 at 0 and
#                                back up full (checkpoint c1), write 0x22 at
#                                1M and back up incremental (c2) into $R;
#                                the model images $TMPD/m1-vda.qcow2 and
#                                $TMPD/m2-vda.qcow2 hold what each restores
#   rf_file N DISK               the file of disk DISK of backup N (0-based)
#                                of the manifest, absolute
#   rf_id N                      the id of backup N
#   rf_no_leftovers DIR          fail if DIR holds a temporary file or directory
#   rf_vckpt ARGS...             vckpt bounded by `timeout 60` (a hang fails)
#   rf_has_finding JSON CODE [IMAGE]  verify --json found CODE (about IMAGE)
#   rf_once STRING FILE          STRING occurs exactly once in FILE
#   rf_setup_big                 one 1G disk, 512M of data, one full backup
#   rf_interrupt_restore SIGNAL  interrupt a restore; exit 6, nothing left
. "${srcdir:-.}/functions.sh"
set -e -x
requires_root
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom=rf
R=$TMPD/repo

rf_vckpt ()
{
    if [ -n "${VCKPT_VALGRIND:-}" ]; then
        # shellcheck disable=SC2086
        timeout -k 5 300 valgrind --error-exitcode=119 --leak-check=full \
                --errors-for-leak-kinds=definite --quiet \
                ${VCKPT_VALGRIND_OPTS:-} "$VCKPT" "$@"
    else
        timeout -k 5 60 "$VCKPT" "$@"
    fi
}

rf_setup ()
{
    lab_start
    if [ $# -eq 0 ]; then set -- --disk 16M; fi
    lab_domain_define "$dom" "$@"
    lab_domain_start "$dom"
    qemu-img create -q -f qcow2 "$TMPD/model.qcow2" 16M
    lab_write "$dom" vda 0x11 0 1M
    qemu-io -f qcow2 -c "write -P 0x11 0 1M" "$TMPD/model.qcow2" >/dev/null
    cp "$TMPD/model.qcow2" "$TMPD/m1-vda.qcow2"
    vckpt -q backup "$dom" --full --name c1 --repo "$R"
    lab_write "$dom" vda 0x22 1M 1M
    qemu-io -f qcow2 -c "write -P 0x22 1M 1M" "$TMPD/model.qcow2" >/dev/null
    cp "$TMPD/model.qcow2" "$TMPD/m2-vda.qcow2"
    vckpt -q backup "$dom" --incremental c1 --name c2 --repo "$R"
}

rf_file ()
{
    echo "$R/$dom/$(vckpt --json list-backups "$dom" --repo "$R" |
                    jq -r --argjson n "$1" --arg d "$2" \
                       '.backups[$n].disks[] | select(.target == $d) | .file')"
}

rf_id ()
{
    vckpt --json list-backups "$dom" --repo "$R" | jq -r --argjson n "$1" '.backups[$n].id'
}

rf_no_leftovers ()
{
    if ls -A "$1" | grep -q -e '^\.vckpt-' -e '^\.tmp\.'; then
        ls -la "$1" >&2
        fail "temporary files left in $1"
    fi
}

# rf_has_finding JSON-FILE CODE [IMAGE]
#
# Fail unless verify's JSON output has a finding CODE (about IMAGE).
rf_has_finding ()
{
    jq -e --arg c "$2" --arg i "${3:-}" \
       '[.findings[] | select(.code == $c and ($i == "" or .image == $i))] | length > 0' "$1" ||
        fail "no finding '$2' ${3:+about $3} in $(cat "$1")"
}

# rf_once STRING FILE: fail unless STRING occurs exactly once in FILE.
rf_once ()
{
    local n
    n=$(grep -o -F -e "$1" "$2" | wc -l)
    [ "$n" -eq 1 ] || fail "'$1' occurs $n times in $(cat "$2")"
}

# rf_setup_big: like rf_setup with one 1G disk holding 512 MiB of data in a
# single full backup (checkpoint c1), so that a restore takes a while;
# the model is $TMPD/m1-vda.qcow2.
rf_setup_big ()
{
    lab_start
    lab_domain_define "$dom" --disk 1G
    lab_domain_start "$dom"
    qemu-img create -q -f qcow2 "$TMPD/m1-vda.qcow2" 1G
    lab_write "$dom" vda 0x51 0 256M
    lab_write "$dom" vda 0x52 256M 256M
    qemu-io -f qcow2 -c "write -P 0x51 0 256M" -c "write -P 0x52 256M 256M" \
            "$TMPD/m1-vda.qcow2" >/dev/null
    vckpt -q backup "$dom" --full --name c1 --repo "$R"
}

# rf_interrupt_restore SIGNAL: start a restore of $dom into $TMPD/to, send
# SIGNAL to vckpt once its qemu-img child runs, and check the outcome:
# exit 6, the child ended, nothing left in $TMPD/to.
rf_interrupt_restore ()
{
    local sig="$1" pid qpid= i rc=0
    local run=("$VCKPT")
    if [ -n "${VCKPT_VALGRIND:-}" ]; then
        run=(valgrind --error-exitcode=119 --leak-check=full --errors-for-leak-kinds=definite
             --quiet "$VCKPT")
    fi
    mkdir "$TMPD/to"
    "${run[@]}" restore "$dom" --repo "$R" --to "$TMPD/to" >"$TMPD/r.out" 2>"$TMPD/r.err" &
    pid=$!
    for (( i = 0; i < 1200; i++ )); do
        qpid=$(pgrep -P "$pid" qemu-img || true)
        [ -n "$qpid" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    [ -n "$qpid" ] || fail "restore never ran qemu-img (or ended first)"
    kill -s "$sig" "$pid"
    wait "$pid" || rc=$?
    cat "$TMPD/r.err" >&2
    test "$rc" -eq 6 || fail "restore interrupted by $sig exited with $rc, expected 6"
    grep -q 'interrupted' "$TMPD/r.err"
    if kill -0 "$qpid" 2>/dev/null && [ "$(ps -o comm= -p "$qpid")" = qemu-img ]; then
        fail "qemu-img ($qpid) still runs after the restore was interrupted"
    fi
    test -z "$(ls -A "$TMPD/to")" || fail "left in $TMPD/to: $(ls -A "$TMPD/to")"
}
