#!/usr/bin/env bash
# The tables of list-backups and prune: each column is as wide as its
# widest cell, so that rows line up under the header whatever the names:
# generated checkpoint names (vckpt-TIME-RANDOM, 29 characters) and a long
# one given with --name overflowed list-backups' columns, and a point kept
# by many rules prune's KEPT BY, shifting the rest of the row.
# list-backups is also compared with a golden file (times, random parts,
# sizes and ratios filtered).
. "${srcdir:-.}/prune-functions.sh"

# columns_line_up FILE HEADER...: every cell of every row (but indented
# lines) starts where its header does; cut at the headers' starts, no cell
# begins with a blank or runs into the next one.
columns_line_up ()
{
    local file=$1 heads
    shift
    heads=$(printf '%s|' "$@")
    awk -v heads="${heads%|}" '
        NR == 1 { n = split(heads, h, "|"); s = 1
                  for (c = 1; c <= n; c++) { p = index(substr($0, s), h[c]); start[c] = s + p - 1; s = start[c] + length(h[c]) }
                  next }
        /^ / { next }
        { for (c = 1; c <= n; c++) {
            cell = c < n ? substr($0, start[c], start[c + 1] - start[c]) : substr($0, start[c])
            if (cell ~ /^ / || (c < n && cell !~ / $/)) { printf "row %d, column %d: \"%s\"\n", NR, c, cell; bad = 1 } } }
        END { exit bad }' "$file"
}
pf_setup 16M

pf_put 0x10 0 4M
pf_backup 0 --full
pf_put 0x21 1M 1M
next_second              # ids of the same second get "-2": not the golden's
pf_backup 1 --auto --name nightly-before-the-upgrade-of-the-database
pf_put 0x22 2M 1M
next_second
pf_backup 2 --auto

expect_exit 0 vckpt list-backups "$dom" --repo "$R"
columns_line_up "$out" CHAIN BACKUP LEVEL CHECKPOINT SINCE END SIZE RATIO ||
    fail "list-backups columns do not line up"
# Plain files: their bytes are the data they hold and the qcow2 metadata.
awk 'NR > 1 && !/^ / { if ($NF !~ /^1\.[0-9][0-9]$/) { print "ratio " $NF; bad = 1 } }
     END { exit bad }' "$out" || fail "a plain backup's ratio is not 1.xx"
sed -E -e 's/[0-9]{8}T[0-9]{6}Z/YYYYMMDDTHHMMSSZ/g' \
       -e 's/(vckpt-YYYYMMDDTHHMMSSZ)-[0-9a-f]{6}/\1-XXXXXX/g' \
       -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} [+-][0-9]{4}/TIME                     /' \
       -e 's/[0-9.]+ (B|KiB|MiB|GiB) +([0-9]+\.[0-9]{2}|-)$/SIZE RATIO/' \
       -e 's/SIZE +RATIO$/SIZE RATIO/' "$out" > "$TMPD/list"
diff -u "$srcdir/golden/list-backups.txt" "$TMPD/list"

# prune: the newest point kept by every rule.
expect_exit 0 vckpt prune "$dom" --repo "$R" --dry-run --keep-last 3 --keep-hourly 3 \
            --keep-daily 3 --keep-weekly 3 --keep-monthly 3 --keep-yearly 3 --keep-within 1d
grep -q "newest,last,hourly,daily,weekly,monthly,yearly,within" "$out"
grep -v -e '^would write' -e '^checkpoints' -e '^Would prune' "$out" > "$TMPD/plan"
columns_line_up "$TMPD/plan" BACKUP LEVEL "START (UTC)" "KEPT BY" ACTION ||
    fail "prune's columns do not line up"
