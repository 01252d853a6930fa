#!/usr/bin/env bash
# status --prometheus FILE writes node_exporter's textfile format: one
# HELP and TYPE per family, a sample per domain with the labels
# repository, domain and host, the values status found; atomically (the
# file replaced by a rename: a new inode, no temporary file left), mode
# 0644 whatever the umask, a link at FILE replaced and never followed, in
# a directory no other user may change; written also when status exits 4.
. "${srcdir:-.}/status-functions.sh"
st_setup p1
expect_exit 0 vckpt backup p1 --full --repo "$R"
M=$TMPD/metrics
mkdir -m 0755 "$M"
umask 077

expect_exit 0 vckpt --json status --repo "$R" --prometheus "$M/vckpt.prom"
test "$(stat -c %a "$M/vckpt.prom")" = 644
test "$(ls -A "$M")" = vckpt.prom
end=$(vckpt --json list-backups p1 --repo "$R" | jq -r '.backups[0].end')
bytes=$(st_domain p1 .bytes)
l="{repository=\"$R\",domain=\"p1\",host=\"$(hostname)\"}"
for want in "vckpt_last_backup_timestamp_seconds$l $end" \
            "vckpt_backup_max_age_seconds$l 93600" \
            "vckpt_backup_stale$l 0" \
            "vckpt_chain_length$l 1" \
            "vckpt_backups$l 1" \
            "vckpt_repository_bytes$l $bytes" \
            "vckpt_last_run_failed$l 0" \
            "vckpt_read_error{repository=\"$R\",domain=\"p1\"} 0"; do
    grep -qxF "$want" "$M/vckpt.prom" || fail "no line '$want'"
done
grep -q "^vckpt_backup_age_seconds$l [0-9]*$" "$M/vckpt.prom"
grep -q "^vckpt_last_run_timestamp_seconds$l [0-9]*$" "$M/vckpt.prom"
grep -q '^vckpt_status_timestamp_seconds [0-9]*$' "$M/vckpt.prom"
# No drill, no copy: no sample of theirs.
if grep -q '^vckpt_last_drill_timestamp_seconds{' "$M/vckpt.prom"; then
    fail "a drill sample without a drill"
fi
# Each family: its HELP and TYPE once, its samples right after them.
awk '/^# HELP / { if (seen[$3]++) { print "HELP twice: " $3; bad = 1 } fam = $3; next }
     /^# TYPE / { if ($3 != fam || $4 != "gauge") { print "TYPE out of place: " $0; bad = 1 } next }
     { split($0, a, /[{ ]/); if (a[1] != fam) { print "sample outside its family: " $0; bad = 1 } }
     END { exit bad }' "$M/vckpt.prom"

# Written again: a new file renamed over the old one.
ino=$(stat -c %i "$M/vckpt.prom")
expect_exit 0 vckpt status --repo "$R" --prometheus "$M/vckpt.prom"
test "$(stat -c %i "$M/vckpt.prom")" != "$ino" || fail "the file was rewritten in place"
test "$(ls -A "$M")" = vckpt.prom

# A link at FILE is replaced, its target untouched.
echo decoy > "$TMPD/decoy"
rm "$M/vckpt.prom"
ln -s "$TMPD/decoy" "$M/vckpt.prom"
expect_exit 0 vckpt status --repo "$R" --prometheus "$M/vckpt.prom"
test -f "$M/vckpt.prom" && test ! -L "$M/vckpt.prom"
test "$(cat "$TMPD/decoy")" = decoy

# Stale (the clock two days ahead): exit 4, and the metrics say why.
st_clock 172800 expect_exit 4 vckpt status --repo "$R" --prometheus "$M/vckpt.prom"
grep -qxF "vckpt_backup_stale$l 1" "$M/vckpt.prom"

# A directory another user may change: refused (2), nothing written.
mkdir -m 0755 "$TMPD/theirs"
chown nobody "$TMPD/theirs"
expect_exit 2 vckpt status --repo "$R" --prometheus "$TMPD/theirs/vckpt.prom"
assert_grep 'theirs' "$err"
test -z "$(ls -A "$TMPD/theirs")"
# Not a file name.
expect_exit 2 vckpt status --repo "$R" --prometheus "$M/"
