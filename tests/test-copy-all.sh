#!/usr/bin/env bash
# copy --all: every domain of the source repository, each in its own
# process, one summary.  A domain whose copy is refused (its directory in
# the destination is another user's) does not stop the other: the run's
# status is that domain's (2), the other's backups are copied.
. "${srcdir:-.}/copy-functions.sh"
bf_setup
lab_domain_define d2 --disk 16M
lab_domain_start d2
lab_write d2 vda 0x71 0 1M
expect_exit 0 vckpt backup d2 --repo "$R" --full

expect_exit 0 vckpt --json copy --all --repo "$R" --to "$D"
jq -e 'length == 2 and all(.exit == 0) and (map(.unit) | sort == ["d2", "web 1"])' "$out"
jq -e '[.[].result.copied] | sort == [1, 5]' "$out"
test "$(cf_ids | wc -l)" = 5
test "$(vckpt --json list-backups d2 --repo "$D" | jq '.backups | length')" = 1

bf_put vda 0x15 12M 1M
bf_backup 5 --auto
lab_write d2 vda 0x72 2M 1M
expect_exit 0 vckpt backup d2 --repo "$R" --auto
chown nobody "$D/d2"
expect_exit 2 vckpt copy --all --repo "$R" --to "$D"
assert_grep '^d2 +usage error +- ' "$out"
assert_grep '^web 1 +ok +1 ' "$out"
assert_grep '^vckpt: copy d2: .*another user' "$err"
chown root "$D/d2"
test "$(cf_ids | wc -l)" = 6
test "$(vckpt --json list-backups d2 --repo "$D" | jq '.backups | length')" = 1
cf_restores_ok
