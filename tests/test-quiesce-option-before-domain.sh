#!/usr/bin/env bash
# --quiesce takes an optional =try: written before the domain it must not
# swallow the domain's name ("--quiesce DOMAIN"), and any other value is
# a usage error.
. "${srcdir:-.}/faults-functions.sh"
set -e -x
faults_setup

expect_exit 0 vckpt backup --quiesce "$dom" --repo "$R" --full --dry-run
grep -q "would take a full backup of $dom" "$out"
expect_exit 0 vckpt backup --quiesce=try "$dom" --repo "$R" --full --dry-run
grep -q "would take a full backup of $dom" "$out"
expect_exit 2 vckpt backup "$dom" --quiesce=maybe --repo "$R" --full --dry-run
grep -q -- "--quiesce takes no value but =try (got 'maybe')" "$err"
