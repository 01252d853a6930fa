#!/usr/bin/env bash
# backup --dry-run writes nothing: not the repository directory, not the
# domain directory, not the lock file, not a journal, not the host lock;
# and in an existing repository it changes no file.  It still shows what
# the backup would do.
. "${srcdir:-.}/functions.sh"
set -e -x
lab_start
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom=dryrun
R=$TMPD/repo
lab_domain_define "$dom" --disk 64M
lab_domain_start "$dom"
lock=/run/vckpt/$(virsh domuuid "$dom" | head -1).lock

# No repository yet.
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --full --dry-run --name d1
jq -e '.dry_run and .level == "full"' "$out"
jq -r .backup_xml "$out" | grep -q "$R/$dom/"
test ! -e "$R"
test ! -e "$lock"
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --dry-run
jq -e '.level == "full"' "$out"
test ! -e "$R"
test "$(virsh -q checkpoint-list "$dom" --name)" = ""

# An existing repository: nothing in it changes.
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name k0
rm -f "$lock"
(cd "$R" && find . -printf '%p %s %T@ %m\n' | sort) > "$TMPD/before"
lab_write "$dom" vda 0x10 0 1M
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --dry-run --name d2
jq -e '.level == "incremental" and .since == "k0"' "$out"
jq -r .backup_xml "$out" > "$TMPD/b.xml"
xmllint --noout --relaxng "$LIBVIRT_SCHEMAS/domainbackup.rng" "$TMPD/b.xml"
(cd "$R" && find . -printf '%p %s %T@ %m\n' | sort) | diff "$TMPD/before" -
test ! -e "$lock"
test "$(virsh -q checkpoint-list "$dom" --name)" = k0
