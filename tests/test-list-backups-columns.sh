#!/usr/bin/env bash
# list-backups: each column is as wide as its widest cell, so that rows
# line up under the header whatever the names: generated checkpoint names
# (vckpt-TIME-RANDOM, 29 characters) and a long one given with --name
# overflowed their column and shifted the rest of the row.  Compared with
# a golden file, times, random parts and sizes filtered.
. "${srcdir:-.}/prune-functions.sh"
pf_setup 16M

pf_put 0x10 0 4M
pf_backup 0 --full
pf_put 0x21 1M 1M
pf_backup 1 --auto --name nightly-before-the-upgrade-of-the-database
pf_put 0x22 2M 1M
pf_backup 2 --auto

expect_exit 0 vckpt list-backups "$dom" --repo "$R"
# Every cell of every row starts where its header does: cut each row at
# the header's column starts, no cell may begin with a blank or run into
# the next one.
awk 'NR == 1 { n = 0; for (i = 1; i <= length($0); i++)
                 if (substr($0, i, 1) != " " && (i == 1 || substr($0, i - 1, 1) == " ")) start[++n] = i
               next }
     /^ / { next }
     { for (c = 1; c <= n; c++) {
         cell = c < n ? substr($0, start[c], start[c + 1] - start[c]) : substr($0, start[c])
         if (cell ~ /^ / || (c < n && cell !~ / $/)) { printf "row %d, column %d: \"%s\"\n", NR, c, cell; bad = 1 } } }
     END { exit bad }' "$out" || fail "list-backups columns do not line up"
sed -E -e 's/[0-9]{8}T[0-9]{6}Z/YYYYMMDDTHHMMSSZ/g' \
       -e 's/(vckpt-YYYYMMDDTHHMMSSZ)-[0-9a-f]{6}/\1-XXXXXX/g' \
       -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} [+-][0-9]{4}/TIME                     /' \
       -e 's/[0-9.]+ (B|KiB|MiB|GiB)$/SIZE/' "$out" > "$TMPD/list"
diff -u "$srcdir/golden/list-backups.txt" "$TMPD/list"
