#!/usr/bin/env bash
# On a stock host, a repository under a directory QEMU's user cannot
# search (0700): validate --repo names it with the fix (finding
# qemu-cannot-reach, exit 4) before anything starts, and backup refuses
# the same way: no checkpoint, no file, no job.  Once the directory is
# searchable, the same backup works.
. "${srcdir:-.}/stock-functions.sh"
set -e -x
stock_setup
lab_domain_start "$dom"
P=$TMPD/private
mkdir -m 0700 "$P"
expect_exit 4 vckpt --json validate "$dom" --repo "$P/repo"
assert_finding "$out" qemu-cannot-reach severity=error image="$P" action~'chmod o\+x'
expect_exit 4 vckpt backup "$dom" --repo "$P/repo" --full --name k0
grep -q "cannot search $P " "$out"
test -z "$(virsh -q checkpoint-list "$dom" --name)"
# At most the empty repository and its lock (made before the preflight, as
# for any backup): no chain, no disk file, no journal.
left=$(find "$P" -mindepth 1 \( -name '*.qcow2' -o -name pending.xml -o -name '2*' \))
test -z "$left" || fail "files were written: $left"
test -z "$(virsh -q domjobinfo "$dom" | grep -v 'Job type: *None')"

chmod 0711 "$P"
expect_exit 0 vckpt backup "$dom" --repo "$P/repo" --full --name k0
R=$P/repo repo_private
