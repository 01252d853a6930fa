#!/usr/bin/env bash
# Every command's usage line (from the command table) appears verbatim in
# the man page SYNOPSIS, and the man page lists no command that does not exist.
. "${srcdir:-.}/functions.sh"
set -e -x

pod="$abs_top_srcdir/man/vckpt.pod"
vckpt help --synopsis > "$TMPD/usage"
test -s "$TMPD/usage"
sed -n '/^=head1 SYNOPSIS/,/^=head1/p' "$pod" | sed -n 's/^ \(vckpt [a-z].*\)$/\1/p' |
    grep -v -e '^vckpt \[' -e '^vckpt --' > "$TMPD/man"
diff -u "$TMPD/usage" "$TMPD/man" || fail "man page SYNOPSIS and 'vckpt help --synopsis' differ"

# Every command has a section in the man page and a help text.
while read -r _ a b _; do
    case "$b" in [A-Z\[\(]*|--*|"") name="$a" ;; *) name="$a $b" ;; esac
    grep -q "^=head2 $name\b" "$pod" || fail "no =head2 for '$name' in the man page"
    vckpt help $name > "$TMPD/help"
    grep -q "^Usage: vckpt $name" "$TMPD/help" || fail "'vckpt help $name' has no usage line"
done < "$TMPD/usage"

# Exit codes in --help, the man page and README agree.
vckpt --help > "$TMPD/help"
for code in 0 1 2 3 4 5 6; do
    grep -q "^  $code  " "$TMPD/help" || fail "--help does not list exit code $code"
    grep -q "^=item B<$code>" "$pod" || fail "man page does not list exit code $code"
    grep -q "^| $code " "$abs_top_srcdir/README.md" || fail "README does not list exit code $code"
done
