# shellcheck shell=bash
# Helpers of the restore drill and instant recovery tests (tests/drill.am).
# Sourced after functions.sh (and lab-guest.sh for a real guest).

# drill_sums REPO
#
# Print the SHA-256 of every backup file in REPO (the manifests, chain
# files and XML; not the drill and instant records, the lock or
# temporary files), sorted by path.
drill_sums ()
{
    (cd "$1" && find . -type f -not -name drills.json -not -name instant.json \
                     -not -name lock -not -name '.tmp.*' -print0 | sort -z | xargs -0 sha256sum)
}

# drill_nothing_left DIR
#
# Fail unless no drill domain exists in the lab and DIR (the drills'
# TMPDIR) is empty.
drill_nothing_left ()
{
    local doms
    doms=$(virsh -c "$LAB_URI" list --all --name | grep vckpt-drill || true)
    [ -z "$doms" ] || fail "drill domains left: $doms"
    [ -z "$(ls -A "$1")" ] || fail "files left in $1: $(ls -A "$1")"
}

# instant_base SIZE PATTERN LEN
#
# Start the lab; define domain d1 ($dom) with a SIZE disk, write PATTERN
# at 0 (LEN bytes), back it up full as checkpoint c1 into $R
# ($TMPD/repo), and shut it off: a backup to run an instant domain from.
instant_base ()
{
    lab_start
    dom=d1
    R=$TMPD/repo
    lab_domain_define "$dom" --disk "$1"
    lab_domain_start "$dom"
    lab_write "$dom" vda "$2" 0 "$3"
    expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name c1
    lab_domain_stop "$dom"
}
