#!/usr/bin/env bash
# An empty manifest.xml: list-backups, verify and restore say so plainly
# ("manifest.xml is empty"), not "malformed XML (line 0): unknown error".
. "${srcdir:-.}/restore-functions.sh"
rf_setup

: > "$R/$dom/manifest.xml"
mkdir "$TMPD/to"
for cmd in "list-backups $dom" "verify $dom" "restore $dom --to $TMPD/to"; do
    # shellcheck disable=SC2086
    expect_exit 1 rf_vckpt $cmd --repo "$R"
    grep -q "manifest.xml is empty" "$err"
    assert_no_grep 'malformed XML|unknown error' "$err"
done
test -z "$(ls -A "$TMPD/to")"
