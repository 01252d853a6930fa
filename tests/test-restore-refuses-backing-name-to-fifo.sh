#!/usr/bin/env bash
# The incremental's qcow2 header rewritten to name a FIFO as its backing
# file: restore, even with --no-verify, refuses the chain (the header must
# name the recorded backing file) instead of letting qemu-img block on it.
. "${srcdir:-.}/restore-functions.sh"
rf_setup

f=$(rf_file 1 vda)
mkfifo -m 0600 "$TMPD/fifo"
qemu-img rebase -q -u -f qcow2 -b "$TMPD/fifo" -F raw "$f"
mkdir "$TMPD/to"
for opt in "" --no-verify; do
    # shellcheck disable=SC2086
    expect_exit 1 rf_vckpt restore "$dom" --repo "$R" --to "$TMPD/to" $opt
    grep -q "backing file is '$TMPD/fifo', the manifest says" "$err"
    test -z "$(ls -A "$TMPD/to")"
done
expect_exit 1 rf_vckpt --json verify "$dom" --repo "$R"
rf_has_finding "$out" chain-broken "$f"
