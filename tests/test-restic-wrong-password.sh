#!/usr/bin/env bash
# restic's refusals, passed on with its message and a documented exit
# status: a wrong password is 2, no password at all is 2 before restic
# runs, a restic repository that does not exist is 3, a snapshot that is
# no copy of the domain is 3, a malformed --snapshot is 2.
. "${srcdir:-.}/restic-functions.sh"
mkdir "$TMPD/to"
rs_init
echo "not the password" >"$TMPD/wrong.pw"
unset RESTIC_PASSWORD RESTIC_PASSWORD_FILE RESTIC_PASSWORD_COMMAND

for cmd in "list-backups" "verify" "restore --to $TMPD/to" "prune --keep-daily 7"; do
    # shellcheck disable=SC2086 # CMD: the command and its words
    expect_exit 2 vckpt $cmd "$dom" --from "restic:$RR" --password-file "$TMPD/wrong.pw"
    assert_grep "restic refused the password of restic:$RR" "$err"
    assert_grep 'wrong password' "$err"
    # shellcheck disable=SC2086
    expect_exit 2 vckpt $cmd "$dom" --from "restic:$RR"
    assert_grep 'no password for the restic repository' "$err"
done
assert_eq "" "$(ls -A "$TMPD/to")" "what restore left in --to"

# restic's own environment gives the password too.
RESTIC_PASSWORD_FILE=$TMPD/wrong.pw expect_exit 2 vckpt list-backups "$dom" --from "restic:$RR"
RESTIC_PASSWORD_FILE=$RP expect_exit 3 vckpt list-backups "$dom" --from "restic:$RR"
assert_grep "no copy of domain 'web 1'" "$err"

expect_exit 3 vckpt list-backups "$dom" --from "restic:$TMPD/none" --password-file "$RP"
assert_grep 'Is there a repository at the following location' "$err"

# A snapshot that is not a copy of the domain.
mkdir "$TMPD/other"
echo data >"$TMPD/other/file"
snap=$(rs_restic backup --json -q "$TMPD/other" | jq -r .snapshot_id)
expect_exit 3 vckpt list-backups "$dom" --from "restic:$RR" --password-file "$RP" \
    --snapshot "$snap"
assert_grep "snapshot $snap in restic:$RR is no copy of domain 'web 1'" "$err"
expect_exit 3 vckpt list-backups "$dom" --from "restic:$RR" --password-file "$RP" \
    --snapshot 0123abcd
expect_exit 2 vckpt list-backups "$dom" --from "restic:$RR" --password-file "$RP" \
    --snapshot latest
# Options that go with --from only, and --from of a directory.
expect_exit 2 vckpt list-backups "$dom" --password-file "$RP"
expect_exit 2 vckpt list-backups "$dom" --from "$TMPD/other"
expect_exit 2 vckpt list-backups "$dom" --repo "$TMPD" --from "restic:$RR"
