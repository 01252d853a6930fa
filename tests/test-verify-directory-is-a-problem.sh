#!/usr/bin/env bash
# A directory in place of the incremental's disk file: verify must not say
# OK about a file it could not read (exit 1, finding file-unreadable).
. "${srcdir:-.}/restore-functions.sh"
rf_setup

f=$(rf_file 1 vda)
rm "$f"
mkdir -m 0700 "$f"
expect_exit 1 rf_vckpt --json verify "$dom" --repo "$R"
rf_has_finding "$out" file-unreadable "$f"
jq -e '.ok == false and .errors >= 1' "$out"
expect_exit 1 rf_vckpt verify "$dom" --repo "$R"
grep -q '^FAILED' "$out"
