#!/usr/bin/env bash
# A repository another user owns or may write (issue: that user swaps the
# new chain directory for a link right after vckpt makes it, and root's
# qemu-img create overwrites the link's target) is refused before anything
# is written, at every level of it: the repository, REPO/DOMAIN, a chain
# directory, group- or world-writable ones; exit 2, no checkpoint, the
# would-be victim unchanged, while `nobody` tries the swap in a loop.  A
# repository under a root-owned sticky directory (/tmp) works.
. "${srcdir:-.}/stock-functions.sh"
set -e -x
requires setpriv --version
stock_setup
lab_domain_start "$dom"
victim=$TMPD/victim
mkdir "$TMPD/vdir"
head -c 64K /dev/urandom >"$victim"
sum=$(sha256sum <"$victim")
vlist=$(ls -A "$TMPD/vdir")

refused ()
{
    local repo="$1" why="$2"
    expect_exit 2 vckpt backup "$dom" --repo "$repo" --full --name kx
    grep -q "$why" "$err" || fail "no '$why' in: $(cat "$err")"
    test -z "$(virsh -q checkpoint-list "$dom" --name | grep kx)" || fail "checkpoint kx left"
    assert_eq "$sum" "$(sha256sum <"$victim")" "the victim changed"
    assert_eq "$vlist" "$(ls -A "$TMPD/vdir")" "files were made through a link"
}

# The repository is nobody's, and nobody swaps every new chain for a link.
N=$TMPD/nobodys
mkdir "$N"
chown nobody "$N"
setpriv --reuid=nobody --regid=nogroup --clear-groups bash -c '
    while :; do
        mkdir -p "$1/$2" 2>/dev/null
        for c in "$1/$2"/2*; do
            [ -d "$c" ] && [ ! -L "$c" ] && mv "$c" "$c.old" 2>/dev/null && ln -s "$3" "$c"
        done
    done' swap "$N" "$dom" "$TMPD/vdir" &
cleanup_fn kill $!
refused "$N" "repository $N: $N is owned by another user"
expect_exit 2 vckpt list-backups "$dom" --repo "$N"
expect_exit 2 vckpt verify "$dom" --repo "$N"

# World-writable (not sticky), group-writable: refused.
mkdir -m 0777 "$TMPD/world"
refused "$TMPD/world" "is writable by other users"
mkdir -m 0775 "$TMPD/group"
chgrp nogroup "$TMPD/group"
refused "$TMPD/group" "is writable by other users"
# A path through another user's directory.
mkdir -p "$TMPD/nob2/sub"
chown nobody "$TMPD/nob2"
refused "$TMPD/nob2/sub" "$TMPD/nob2 is owned by another user"

# REPO is root's, REPO/DOMAIN nobody's.
mkdir -p "$TMPD/r2/$dom"
chown nobody "$TMPD/r2/$dom"
refused "$TMPD/r2" "$TMPD/r2/$dom is owned by another user"

# A chain directory handed to nobody after the full backup.
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name k0
chain=$(ls "$R/$dom" | grep '^2')
chown nobody "$R/$dom/$chain"
expect_exit 2 vckpt backup "$dom" --repo "$R" --incremental k0 --name k1
grep -q "$R/$dom/$chain is owned by another user" "$err"
test -z "$(virsh -q checkpoint-list "$dom" --name | grep k1)" || fail "checkpoint k1 left"
test "$(find "$R/$dom/$chain" -name 'inc-*' | wc -l)" = 0
chown root "$R/$dom/$chain"
expect_exit 0 vckpt backup "$dom" --repo "$R" --incremental k0 --name k1

# Under a root-owned sticky directory: fine.
mkdir -m 1777 "$TMPD/sticky"
expect_exit 0 vckpt backup "$dom" --repo "$TMPD/sticky/repo" --full --name k2
R=$TMPD/sticky/repo repo_private
