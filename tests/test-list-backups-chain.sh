#!/usr/bin/env bash
# list-backups of a chain of five backups: levels, checkpoints, the
# differential's parent (the full), every backup complete (--json); one
# line per backup (text).
. "${srcdir:-.}/backup-functions.sh"
bf_setup

expect_exit 0 vckpt --json list-backups "$dom" --repo "$R"
test "$(jq -r '[.backups[].level] | join(",")' "$out")" = full,incremental,incremental,differential,incremental
test "$(jq -r '[.backups[].checkpoint] | join(",")' "$out")" = k0,k1,k2,k3,k4
test "$(jq -r '.backups[3].parent == .backups[0].id' "$out")" = true
test "$(jq -r '[.backups[] | .state] | unique | join(",")' "$out")" = complete
expect_exit 0 vckpt list-backups "$dom" --repo "$R"
test "$(grep -c ' k[0-9] ' "$out")" -eq 5
