#!/usr/bin/env bash
# checkpoint redefine checks the files before anything changes: a
# missing parent (exit 3), malformed XML (1), a bad name or a name given
# twice (2).
. "${srcdir:-.}/checkpoint-functions.sh"
set -e -x
ck_setup

expect_exit 0 vckpt checkpoint delete "$dom" c1 --children --metadata-only
test "$(ncheckpoints)" -eq 0
expect_exit 3 vckpt checkpoint redefine "$dom" "$TMPD/c2.xml"
grep -q "parent checkpoint 'c1' of 'c2' is neither defined nor in the given files" "$err"
printf '<domaincheckpoint><name>x' > "$TMPD/broken.xml"
expect_exit 1 vckpt checkpoint redefine "$dom" "$TMPD/c1.xml" "$TMPD/broken.xml"
grep -q 'malformed XML' "$err"
sed 's|<name>c1</name>|<name>../c1</name>|' "$TMPD/c1.xml" > "$TMPD/evil.xml"
expect_exit 2 vckpt checkpoint redefine "$dom" "$TMPD/evil.xml"
expect_exit 2 vckpt checkpoint redefine "$dom" "$TMPD/c1.xml" "$TMPD/c1.xml"
test "$(ncheckpoints)" -eq 0
