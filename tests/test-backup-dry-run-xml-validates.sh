#!/usr/bin/env bash
# backup --auto --dry-run on a chain: the backup and checkpoint XML it
# shows validate against libvirt's schemas and name the incremental's
# parent (k4); nothing starts: no checkpoint, no backup.
. "${srcdir:-.}/backup-functions.sh"
bf_setup

expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --dry-run --name k9
jq -r .backup_xml "$out" > "$TMPD/b.xml"
jq -r .checkpoint_xml "$out" > "$TMPD/c.xml"
xmllint --noout --relaxng "$LIBVIRT_SCHEMAS/domainbackup.rng" "$TMPD/b.xml"
xmllint --noout --relaxng "$LIBVIRT_SCHEMAS/domaincheckpoint.rng" "$TMPD/c.xml"
grep -q '<incremental>k4</incremental>' "$TMPD/b.xml"
virsh -q checkpoint-list "$dom" --name > "$TMPD/checkpoints"
assert_no_grep '^k9$' "$TMPD/checkpoints"
test "$(jq -r '.backups | length' <(vckpt --json list-backups "$dom" --repo "$R"))" = 5
