#!/usr/bin/env bash
# A hostile repository: a domain directory that is a symbolic link, a
# manifest that is garbage or of an unknown version, a domain name made of
# quotes, backslashes and a line feed, side records that are links, FIFOs
# or garbage.  status names each problem clearly (status 1 for what cannot
# be read), never follows a link nor blocks on a FIFO, never crashes, and
# still reports the good domain; the metrics escape the hostile name.
. "${srcdir:-.}/status-functions.sh"
st_setup h1
expect_exit 0 vckpt backup h1 --full --repo "$R"

ln -s "$R/h1" "$R/evil"
mkdir -m 0711 "$R/junk" "$R/future"
echo 'garbage <<<' > "$R/junk/manifest.xml"
sed 's/<manifest version="[0-9]*"/<manifest version="9"/' "$R/h1/manifest.xml" \
    > "$R/future/manifest.xml"
bad=$(printf 'a"b\\c\nd')
mkdir -m 0711 "$R/$bad"
echo '{}' > "$R/$bad/manifest.xml"
# h1's side records: a link, a FIFO, garbage.
rm "$R/h1/last-run.json"
ln -s /etc/passwd "$R/h1/last-run.json"
mkfifo "$R/h1/copies.json"
echo '{"version": 1, "drills": 7}' > "$R/h1/drills.json"

expect_exit 1 vckpt --json status --repo "$R" --prometheus "$TMPD/m.prom"
test "$(jq -s length "$out")" -eq 1
test "$(st_domain h1 .state)" = ok
test "$(st_domain h1 .last_run)" = null
test "$(st_domain h1 .last_copy)" = null
test "$(st_domain h1 .last_drill)" = null
test "$(st_domain evil .state)" = error
st_domain evil .error | grep -q 'a symbolic link, not followed'
st_domain junk .error | grep -q 'junk/manifest.xml: malformed XML'
st_domain future .error | grep -q 'future/manifest.xml: .*version'
test "$(jq '.counts.errors' "$out")" -eq 4
jq -e --arg bad "$bad" '[.repositories[].domains[].domain] | sort ==
                        ([$bad, "evil", "future", "h1", "junk"] | sort)' "$out"
# A name no domain can have (a control character): refused by its name.
jq -e --arg bad "$bad" '.repositories[].domains[] | select(.domain == $bad) |
                        .state == "error" and (.error | test("control character"))' "$out"
# Each named on stderr; the side records are warnings.
assert_grep "^vckpt: status evil: $R/evil: a symbolic link, not followed" "$err"
assert_grep "^vckpt: status junk: " "$err"
assert_grep "^vckpt: warning: status h1: $R/h1/last-run.json: .*symbolic link.*ignored" "$err"
assert_grep "^vckpt: warning: status h1: $R/h1/copies.json: .*FIFO.*ignored" "$err"
assert_grep "^vckpt: warning: status h1: $R/h1/drills.json: not a drills file" "$err"
# The hostile name never forges a line (its line feed shown as "; ", the
# message's continuation indented).
assert_grep '^vckpt: status a"b\\c; d: invalid domain name' "$err"
if grep -v -e '^vckpt: ' -e '^    ' "$err"; then
    fail "a line on stderr that vckpt did not start"
fi
# The link was not followed: /etc/passwd untouched, nothing written.
test -L "$R/h1/last-run.json"

# The metrics: the good domain, a read error each, the name escaped.
grep -qx "vckpt_backups{repository=\"$R\",domain=\"h1\",host=\"$(hostname)\"} 1" "$TMPD/m.prom"
grep -qxF 'vckpt_read_error{repository="'"$R"'",domain="a\"b\\c\nd"} 1' "$TMPD/m.prom"
grep -qx "vckpt_read_error{repository=\"$R\",domain=\"evil\"} 1" "$TMPD/m.prom"
grep -qx "vckpt_read_error{repository=\"$R\",domain=\"h1\"} 0" "$TMPD/m.prom"
grep -qx "vckpt_read_error{repository=\"$R\",domain=\"\"} 0" "$TMPD/m.prom"
# Every line is a comment or NAME{LABELS} VALUE: one sample per line.
if grep -v -e '^# ' -e '^[a-z_]*{.*} -\?[0-9]*$' -e '^[a-z_]* [0-9]*$' "$TMPD/m.prom"; then
    fail "lines that are not samples"
fi

# The text: every row on its line.
expect_exit 1 vckpt status --repo "$R"
assert_grep '^a"b\\c\?d +ERROR ' "$out"
assert_grep '^5 domains in 1 repository: 1 ok, 0 stale, 0 failed, 4 unreadable$' "$out"
