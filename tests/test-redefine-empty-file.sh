#!/usr/bin/env bash
# checkpoint redefine with an empty (or blank) file: one clear message,
# exit 1, not "malformed XML (line 0): unknown error".  The files are read
# and checked before any connection is made.
. "${srcdir:-.}/functions.sh"
set -e -x
cd "$TMPD"

: > empty.xml
printf ' \n\t\n' > blank.xml
for f in empty.xml blank.xml; do
    expect_exit 1 env LIBVIRT_DEFAULT_URI=test:///nonexistent "$VCKPT" checkpoint redefine dom "$f"
    assert_grep "^vckpt: checkpoint redefine dom: $f: empty: no XML document$" "$err"
    assert_no_grep 'unknown error' "$err"
done
