#!/usr/bin/env bash
# A FIFO in place of manifest.xml: list-backups, verify and restore refuse it
# at once (no blocking), naming it once.
. "${srcdir:-.}/restore-functions.sh"
rf_setup

rm "$R/$dom/manifest.xml"
mkfifo -m 0600 "$R/$dom/manifest.xml"
mkdir "$TMPD/to"
for cmd in "list-backups $dom" "verify $dom" "restore $dom --to $TMPD/to"; do
    # shellcheck disable=SC2086
    expect_exit 1 rf_vckpt $cmd --repo "$R"
    grep -q "not a regular file" "$err"
    rf_once manifest.xml "$err"
done
test -z "$(ls -A "$TMPD/to")"
