#!/usr/bin/env bash
# A second repository another user could change is refused with exit
# status 2, as the repository itself would be: the repository directory
# owned by nobody; the domain's directory writable by others; a chain
# directory owned by nobody.  Nothing is written there.
. "${srcdir:-.}/copy-functions.sh"
bf_setup

mkdir -m 0711 "$D"
chown nobody "$D"
expect_exit 2 vckpt copy "$dom" --repo "$R" --to "$D"
assert_grep "another user" "$err"
test -z "$(ls -A "$D")"
chown root "$D"

cf_copy
cf_state > "$TMPD/before"
bf_put vda 0x15 12M 1M
bf_backup 5 --auto
chmod 0777 "$D/$dom"
expect_exit 2 vckpt copy "$dom" --repo "$R" --to "$D"
chmod 0711 "$D/$dom"
chain=$(vckpt --json list-backups "$dom" --repo "$D" | jq -r '.backups[0].disks[0].file | split("/")[0]')
chown nobody "$D/$dom/$chain"
expect_exit 2 vckpt copy "$dom" --repo "$R" --to "$D"
assert_grep "another user" "$err"
chown root "$D/$dom/$chain"
cf_state > "$TMPD/after"
cmp "$TMPD/before" "$TMPD/after" || fail "a refused copy changed the copy"
cf_copy
test "$(jq -r '.copied' "$out")" = 1
cf_verify_ok
