#!/usr/bin/env bash
# restore --define NAME where a domain NAME exists: refused because of the
# name, before anything is copied (a file in the way of the image is not
# even looked at), and that file is untouched.
. "${srcdir:-.}/restore-functions.sh"
rf_setup
lab_domain_define taken --disk 16M

mkdir "$TMPD/to"
echo mine > "$TMPD/to/taken-vda.qcow2"
expect_exit 1 rf_vckpt restore "$dom" --repo "$R" --to "$TMPD/to" --define taken
grep -q "a domain named 'taken' already exists" "$err"
test "$(cat "$TMPD/to/taken-vda.qcow2")" = mine
test "$(ls -A "$TMPD/to")" = taken-vda.qcow2
