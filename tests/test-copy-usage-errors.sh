#!/usr/bin/env bash
# Usage errors of copy are status 2, a domain without backups status 3,
# found before anything is created: no --to, --verify with a restic:
# destination, --password-file with a directory, DOMAIN with --all or
# neither, the source repository as its own destination.
. "${srcdir:-.}/functions.sh"
set -e -x
requires_root
R=$TMPD/repo
D=$TMPD/dest
expect_exit 2 vckpt copy d1 --repo "$R"
grep -q -- "--to is required" "$err"
expect_exit 2 vckpt copy d1 --repo "$R" --to restic:/srv/restic-repo --verify
grep -q -- "--verify is for a directory DEST" "$err"
expect_exit 2 vckpt copy d1 --repo "$R" --to "$D" --password-file /dev/null
grep -q -- "--password-file is for a restic DEST" "$err"
expect_exit 2 vckpt copy --all d1 --repo "$R" --to "$D"
expect_exit 2 vckpt copy --repo "$R" --to "$D"
expect_exit 2 vckpt copy d1 --jobs 2 --repo "$R" --to "$D"
test ! -e "$R"
mkdir -m 0711 -p "$R/d1"
expect_exit 3 vckpt copy d1 --repo "$R" --to "$D"
grep -q "no backups of domain 'd1'" "$err"
expect_exit 3 vckpt copy d2 --repo "$R" --to "$D"
expect_exit 2 vckpt copy d1 --repo "$R" --to "$R/../repo"
grep -q "is the repository copied from" "$err"
test ! -e "$D"
