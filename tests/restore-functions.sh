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
. "${srcdir:-.}/functions.sh"
set -e -x
requires_root
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom=rf
R=$TMPD/repo

rf_vckpt ()
{
    timeout -k 5 60 "$VCKPT" "$@"
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
    if ls -A "$1" | grep -q -e '^\.vckpt-restore' -e '^\.tmp\.'; then
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
