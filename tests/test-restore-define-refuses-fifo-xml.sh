#!/usr/bin/env bash
# The backed-up domain XML replaced by a FIFO: restore --define refuses it at
# once, before copying anything, and defines nothing.
. "${srcdir:-.}/restore-functions.sh"
rf_setup

x=$R/$dom/$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[1].domain_xml // empty')
if [ "$x" = "$R/$dom/" ]; then
    x=$(ls "$R/$dom"/*/inc-*.domain.xml)
fi
rm "$x"
mkfifo -m 0600 "$x"
mkdir "$TMPD/to"
expect_exit 1 rf_vckpt restore "$dom" --repo "$R" --to "$TMPD/to" --define rf-new
grep -q "not a regular file" "$err"
rf_once "$(basename "$x")" "$err"
test -z "$(ls -A "$TMPD/to")"
if virsh dominfo rf-new >/dev/null 2>&1; then fail "a domain was defined"; fi
