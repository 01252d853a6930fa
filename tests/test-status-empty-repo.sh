#!/usr/bin/env bash
# status of an empty repository: nothing to judge, exit 0, one JSON
# document with no domain; a repository that does not exist is status 3
# (not found), and one of several missing spoils only its own entry.
. "${srcdir:-.}/functions.sh"
set -e -x
requires jq --version
R=$TMPD/repo
mkdir -m 0711 "$R"

expect_exit 0 vckpt status --repo "$R"
assert_grep "^Repository $R: no backups$" "$out"
assert_grep '^0 domains in 1 repository: 0 ok, 0 stale, 0 failed, 0 unreadable$' "$out"
test ! -s "$err" || fail "messages on stderr for an empty repository"

expect_exit 0 vckpt --json status --repo "$R"
test "$(jq -s length "$out")" -eq 1
jq -e '.ok == true and .counts.domains == 0 and (.repositories | length) == 1 and
       .repositories[0].path == "'"$R"'" and .repositories[0].domains == []' "$out"

# -q: nothing at all when nothing is wrong.
expect_exit 0 vckpt -q status --repo "$R"
test ! -s "$out"

# A missing repository: 3, named; the other one is still shown.
expect_exit 3 vckpt --json status --repo "$R" --repo "$TMPD/none"
jq -e '.ok == false and .repositories[1].exit == 3 and
       (.repositories[1].error | test("none")) and .repositories[0].exit == 0' "$out"
assert_grep "^vckpt: status: repository $TMPD/none: No such file or directory$" "$err"

# The same repository named twice is read once.
expect_exit 0 vckpt --json status --repo "$R" --repo "$R/"
test "$(jq '.repositories | length' "$out")" -eq 1

# Without --repo: $VCKPT_REPO (no policy file names one).
: > "$TMPD/empty.conf"
VCKPT_REPO=$R VCKPT_CONFIG=$TMPD/empty.conf expect_exit 0 vckpt --json status
jq -e '.repositories[0].path == "'"$R"'"' "$out"

# Usage errors: 2, nothing read.
expect_exit 2 vckpt status --repo "$R" --max-age 3x
assert_grep "invalid --max-age '3x'" "$err"
expect_exit 2 vckpt status --repo ""
expect_exit 2 vckpt status extra-argument
