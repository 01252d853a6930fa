#!/usr/bin/env bash
# The findings catalogue (lib/findings.c) and the code agree: every code a
# vk_report_add() call in lib/*.c can report is in the catalogue, and every
# code in the catalogue is reported somewhere.  The fix kinds are all listed
# in the man page.
. "${srcdir:-.}/functions.sh"
set -e -x

top=$abs_top_srcdir
list=${abs_top_builddir}/tests/test-findings

# The code argument of each vk_report_add(REP, CODE, ...) call: string
# literals, or a ?: of them.  A code in a variable is allowed only where a
# finding is copied from another report (f->code, g->code).
perl -0777 -ne '
    while (/\bvk_report_add\s*\(\s*[^,()]+,\s*([^,]+?)\s*,/g) {
        my $arg = $1;
        next if $arg =~ /^(const\s+)?char\s*\*/;       # the definition
        my @codes = $arg =~ /"([^"]*)"/g;
        if (!@codes && $arg !~ /^\w+->code$/) {
            print STDERR "$ARGV: code not a literal: $arg\n";
            print "!unchecked\n";
        }
        print "$_\n" for @codes;
    }' "$top"/lib/*.c | sort -u > "$TMPD/used"
test -s "$TMPD/used"
"$list" --list > "$TMPD/catalogue"
test -s "$TMPD/catalogue"
sort -u "$TMPD/catalogue" > "$TMPD/catalogue.sorted"
cmp "$TMPD/catalogue" "$TMPD/catalogue.sorted" || fail "the catalogue is not sorted or has duplicates"

missing=$(comm -23 "$TMPD/used" "$TMPD/catalogue")
unused=$(comm -13 "$TMPD/used" "$TMPD/catalogue")
test -z "$missing" || fail "codes used in lib/ but not in the catalogue: $missing"
test -z "$unused" || fail "codes in the catalogue that nothing reports: $unused"

# Every fix kind is documented in the man page.
for kind in $(sed -n 's/^ *\[VK_FIX_[A-Z_]*\] = "\(.*\)",$/\1/p' "$top/lib/findings.c"); do
    grep -q "^=item C<$kind>" "$top/man/vckpt.pod" || fail "man page does not list fix kind '$kind'"
done
