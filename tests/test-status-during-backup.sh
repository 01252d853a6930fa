#!/usr/bin/env bash
# status while a backup holds a domain's repository lock: it does not wait
# nor fail (the manifest is replaced atomically, so it reads it without
# the lock), names the writer, and judges the domain as usual; the backup
# then completes as if status had not run.
. "${srcdir:-.}/status-functions.sh"
st_setup w1
expect_exit 0 vckpt backup w1 --full --repo "$R"
lab_write w1 vda 0x22 0 64K
hold_at backup-committed "$VCKPT" backup w1 --auto --repo "$R"

st_json
test "$(st_domain w1 .state)" = ok
st_domain w1 .writer | grep -q "^pid $held on "
# The incremental committed before the hook: already the newest.
test "$(st_domain w1 .last_backup.level)" = incremental
test "$(st_domain w1 .chain_length)" -eq 2
expect_exit 0 vckpt status --repo "$R"
assert_grep "^    being written by pid $held on .* \(read without its lock\)$" "$out"

release
test "$rc" -eq 0 || fail "the backup held during status exited with $rc"
st_json
test "$(st_domain w1 .writer)" = null
test "$(st_domain w1 .last_run.outcome)" = ok
