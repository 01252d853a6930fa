#!/usr/bin/env bash
# A multi-line libvirt message (a schema error) is shown readable: its
# lines as indented continuation lines, not joined by '?'.  Control
# characters other than line breaks are still neutralised.
. "${srcdir:-.}/functions.sh"
set -e -x
lab_start

dom=msg
lab_domain_define "$dom" --disk 64M
lab_domain_start "$dom"
cat > "$TMPD/c9.xml" <<'XML'
<domaincheckpoint>
  <name>c9</name>
  <bogus/>
</domaincheckpoint>
XML
expect_exit 1 vckpt checkpoint redefine "$dom" "$TMPD/c9.xml"
assert_grep "^vckpt: checkpoint redefine msg: .*c9.xml: cannot redefine checkpoint 'c9': .*failed to validate against schema" "$err"
assert_grep '^    (Extra element|Element domaincheckpoint|Invalid)' "$err"
assert_no_grep '\?' "$err"
test "$(grep -c '^vckpt: ' "$err")" -eq 1 || fail "one error, one 'vckpt:' line"

# A file name with a newline and an escape: the escape is neutralised,
# and the text after the newline cannot start a line of its own.
f="$TMPD/$(printf 'x\nvckpt: OK \033[31m')"
expect_exit 3 vckpt checkpoint redefine "$dom" "$f"
assert_no_grep $'\033' "$err"
assert_no_grep '^vckpt: OK' "$err"
