#!/usr/bin/env bash
# --log-file: one timestamped line per event an operator cares about, from
# backup --all and from each domain's own process: the start, the level
# chosen and why, bytes and duration, a failure with its cause, the end
# with the exit status.  The file is created 0600 and appended to.
. "${srcdir:-.}/fleet-functions.sh"
fleet_setup la lb
mkdir -m 0711 "$R"      # QEMU's user reaches the backup targets
echo 'not a directory' > "$R/lb"
L=$TMPD/log/vckpt.log
mkdir "$TMPD/log"
echo 'an earlier line' > "$L"
chmod 0640 "$L"

expect_exit 1 vckpt --log-file "$L" backup --all --auto --repo "$R"
cat "$L" >&2
test "$(head -1 "$L")" = 'an earlier line' || fail "the log was not appended to"
test "$(stat -c %a "$L")" = 640
ts='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{4} vckpt\[[0-9]+\]: '
test "$(grep -c -v -E "$ts" "$L")" -eq 1 || fail "a line without a timestamp"
# The run's start and end, and the summary.
assert_grep "${ts}start: backup --all --auto --repo $R\$" "$L"
assert_grep "${ts}backup --all: 2 domains, 1 at a time\$" "$L"
assert_grep "${ts}error: backup --all: 2 domains, 1 backed up, 1 failed\$" "$L"
assert_grep "${ts}error: end: exit status 1\$" "$L"
# la: its start, the level and why, bytes and duration, ok.
assert_grep "${ts}start: backup --auto --repo $R -- la\$" "$L"
assert_grep "${ts}backup la: level full \(.+\)\$" "$L"
assert_grep "${ts}backup la: backup full-[^ ]+ complete: 16777216 bytes processed, [0-9]+ written, [0-9.]+ s\$" "$L"
assert_grep "${ts}backup la: ok in [0-9.]+ s\$" "$L"
# lb: the cause, from its own process, then the summary's line.
assert_grep "${ts}error: backup lb: $R/lb: not a directory\$" "$L"
assert_grep "${ts}error: backup lb: failed \(exit status 1\)\$" "$L"
test "$(grep -c 'end: exit status' "$L")" -eq 3   # la, lb, the run

# The next run: an incremental, and the log says why.
rm "$R/lb"
expect_exit 0 vckpt --log-file "$L" backup la --auto --repo "$R"
assert_grep "${ts}backup la: level incremental since [^ ]+ \(--auto: stacked on the newest backup\)\$" "$L"
assert_grep "${ts}end: exit status 0\$" "$L"

# A new log file is created private.
expect_exit 0 vckpt --log-file "$TMPD/log/new.log" backup lb --full --repo "$R"
test "$(stat -c %a "$TMPD/log/new.log")" = 600
assert_grep "${ts}backup lb: level full \(--full given\)\$" "$TMPD/log/new.log"
