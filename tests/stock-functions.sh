# Functions of the stock-host tests: QEMU runs as its own user with
# dynamic ownership (the lab's default, lab.sh), as on Debian, Ubuntu,
# Fedora and RHEL.  Sourced by test-stock-*.sh.
. "${srcdir:-.}/functions.sh"

# stock_setup
#
# A lab, a domain $dom (two qcow2 disks) and the admin's repository $R,
# made 0755 as `mkdir` makes it; QEMU's uid in $QEMU_UID.
stock_setup ()
{
    lab_start
    dom=s1
    R=$TMPD/repo
    mkdir -m 0755 "$R"
    lab_domain_define "$dom" --disk 64M --disk 32M
    QEMU_UID=$(lab_qemu_uid)
    [ -n "$QEMU_UID" ] && [ "$QEMU_UID" != 0 ] ||
        fail "the lab's QEMU runs as '$QEMU_UID', not an unprivileged user"
}

# repo_private [DOMAIN]
#
# Fail unless everything in the domain's repository is vckpt's alone:
# directories root's and 0711 (QEMU's user may search, not list), files
# root's and 0600 (lock and records included).
repo_private ()
{
    local d="$R/${1:-$dom}" bad
    bad=$(find "$d" \( -type d \! \( -user 0 -perm 0711 \) \) -o \
                    \( -type f \! \( -user 0 -group 0 -perm 0600 \) \) -o \
                    \( \! -type d \! -type f \) | while read -r f; do
              stat -c '%n %U:%G %a %F' "$f"; done)
    [ -z "$bad" ] || fail "not vckpt's alone in $d: $bad"
}

# qemu_owned [DOMAIN]
#
# Print the repository files QEMU's user owns.
qemu_owned ()
{
    find "$R/${1:-$dom}" -user "$QEMU_UID" | sort
}

# sums: checksums of every repository disk file
sums ()
{
    find "$R/$dom" -name '*.qcow2' -exec sha256sum {} + | sort
}
