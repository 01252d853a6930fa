# Shared set-up of the tests of copy (tests/copy.am): the chain of five
# backups of backup-functions.sh ($R, domain $dom, models $TMPD/mN-vd?.qcow2
# of checkpoint kN) and a second repository $D.
#
#   . "${srcdir:-.}/copy-functions.sh"
#
# Defines, besides backup-functions.sh's:
#   cf_copy [ARGS...]        vckpt --json copy $dom --repo $R --to $D ARGS;
#                            it must succeed (its JSON in $out)
#   cf_ids [REPO]            the ids of REPO's manifest (default $D), one a
#                            line
#   cf_action ID             what the last cf_copy did with backup ID
#   cf_restores_ok [REPO]    restore every backup REPO lists (default $D)
#                            and compare each disk with the model of its
#                            checkpoint, bit for bit
#   cf_verify_ok [REPO]      vckpt verify of REPO finds nothing
#   cf_state [REPO]          what a reader of REPO sees: its manifest and
#                            the size and checksum of every file it lists,
#                            on stdout
#   cf_modes [REPO]          fail unless every directory of REPO/$dom is
#                            0711 and every file 0600
. "${srcdir:-.}/backup-functions.sh"

D=$TMPD/dest

cf_copy ()
{
    expect_exit 0 vckpt --json copy "$dom" --repo "$R" --to "$D" "$@"
}

cf_ids ()
{
    vckpt --json list-backups "$dom" --repo "${1:-$D}" | jq -r '.backups[].id'
}

cf_action ()
{
    jq -r --arg id "$1" '.backups[] | select(.id == $id) | .action' "$out"
}

cf_restores_ok ()
{
    local repo=${1:-$D} id chk n d dir
    vckpt --json list-backups "$dom" --repo "$repo" > "$TMPD/cf-list.json"
    jq -r '.backups[] | "\(.id) \(.checkpoint)"' "$TMPD/cf-list.json" > "$TMPD/cf-points"
    test -s "$TMPD/cf-points" || fail "$repo lists no backup"
    while read -r id chk; do
        n=${chk#k}
        dir=$(mktemp -d "$TMPD/cf-to.XXXXXX")
        expect_exit 0 vckpt restore "$dom" --repo "$repo" --at "$id" --to "$dir"
        for d in vda vdb; do
            qemu-img compare -q "$TMPD/m$n-$d.qcow2" "$dir/$d.qcow2" ||
                fail "$repo: backup $id ($chk): $d does not restore what was written by then"
        done
        rm -rf "$dir"
    done < "$TMPD/cf-points"
}

cf_verify_ok ()
{
    expect_exit 0 vckpt --json verify "$dom" --repo "${1:-$D}"
    jq -e '.findings | length == 0' "$out" >/dev/null ||
        fail "verify found problems in ${1:-$D}"
}

cf_state ()
{
    local repo=${1:-$D} f
    cat "$repo/$dom/manifest.xml" 2>/dev/null || echo "no manifest"
    vckpt --json list-backups "$dom" --repo "$repo" 2>/dev/null |
        jq -r '.backups[] | .disks[].file' > "$TMPD/cf-files" || true
    while read -r f; do
        stat -c '%n %s' "$repo/$dom/$f"
        sha256sum "$repo/$dom/$f"
    done < "$TMPD/cf-files"
}

cf_modes ()
{
    local repo=${1:-$D} bad
    bad=$(find "$repo/$dom" \( -type d ! -perm 0711 \) -o \( -type f ! -perm 0600 \))
    test -z "$bad" || fail "not 0711 directories and 0600 files: $bad"
}
