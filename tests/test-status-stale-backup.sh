#!/usr/bin/env bash
# A backup older than the max age makes its domain stale: status exits 4
# (the documented status of a check that found the backups wanting) and
# names it on stderr, the table still printed (also with -q).  The max
# age comes from --max-age, else the domain's policy, else 26 hours.  The
# clock is put ahead (tests/clockshift.so) to age the backup.
. "${srcdir:-.}/status-functions.sh"
st_setup old1 old2
expect_exit 0 vckpt backup old1 --full --repo "$R"
expect_exit 0 vckpt backup old2 --full --repo "$R"

# Two days later: both stale.
want=4 st_clock 172800 st_json
jq -e '.ok == false and .counts.stale == 2 and .counts.ok == 0' "$out"
test "$(st_domain old1 .state)" = stale
test "$(st_domain old1 .stale)" = true
test "$(st_domain old1 .exit)" -eq 4
age=$(st_domain old1 .last_backup.age)
test "$age" -ge 172800 && test "$age" -lt $((172800 + 600))
assert_grep "^vckpt: status old1: the newest backup, full-[0-9TZ]+, ended 2d 0h ago \(.*\): older than the max age 26h$" "$err"
assert_grep '^vckpt: status old2: ' "$err"

# The table is printed even with -q, since something is wrong.
st_clock 172800 expect_exit 4 vckpt -q status --repo "$R"
assert_grep '^old1 +STALE +.* 2d 0h +full ' "$out"
assert_grep '^    stale: the newest backup is older \(max age 26h\)$' "$out"
assert_grep '^2 domains in 1 repository: 0 ok, 2 stale, 0 failed, 0 unreadable$' "$out"

# --max-age 3d: fresh again.
st_clock 172800 expect_exit 0 vckpt status --repo "$R" --max-age 3d
assert_grep '^2 domains in 1 repository: 2 ok, 0 stale' "$out"

# The policy: 3 days at the top, 1 day for old2 alone; --max-age wins.
cat > "$TMPD/policy.conf" <<CONF
repository = "$R"
max-age = "3d"
domain "old2" { max-age = "1d" }
CONF
st_clock 172800 expect_exit 4 vckpt --config "$TMPD/policy.conf" --json status
test "$(st_domain old1 .state)" = ok
test "$(st_domain old2 .state)" = stale
test "$(st_domain old2 .max_age)" -eq 86400
st_clock 172800 expect_exit 0 vckpt --config "$TMPD/policy.conf" status --max-age 1w

# A day later than the backups, with the default max age: fresh.
st_clock 86400 expect_exit 0 vckpt status --repo "$R"
