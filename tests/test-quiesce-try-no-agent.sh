#!/usr/bin/env bash
# --quiesce=try on a domain without a guest agent: a warning, then a
# crash-consistent backup, recorded as not quiesced (manifest and
# list-backups); what it restores is what was written.
. "${srcdir:-.}/faults-functions.sh"
set -e -x
faults_setup
put vda 0x31 0 1M

expect_exit 0 vckpt backup "$dom" --repo "$R" --full --quiesce=try --name q1
grep -q "cannot freeze the guest's file systems (.*): --quiesce=try goes on with a crash-consistent backup" "$err"
grep -q 'quiesced="no"' "$R/$dom/manifest.xml"
xmllint --noout --relaxng "$abs_top_srcdir/xml/manifest.rng" "$R/$dom/manifest.xml"
expect_exit 0 vckpt --json list-backups "$dom" --repo "$R"
test "$(jq -r '.backups[0].quiesced' "$out")" = false
expect_exit 0 vckpt list-backups "$dom" --repo "$R"
assert_no_grep 'quiesced: yes' "$out"
restored_ok q1 vda
