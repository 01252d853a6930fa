#!/usr/bin/env bash
# Another job holds the domain (a pull-mode backup started with virsh, which
# lasts until it is aborted): a backup exits with the busy code (5), whether
# the preflight runs or not, and leaves no checkpoint behind.  Busy is
# decided on libvirt's error code, not on its English text: the same holds
# when libvirtd speaks French, if its translations are installed.
. "${srcdir:-.}/functions.sh"
set -e -x
lab_start
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom=foreignjob
lab_domain_define "$dom" --disk 64M
lab_domain_start "$dom"
# QEMU (as its own user) binds the export's socket in there.
mkdir -m 0700 "$TMPD/sock"
chown "$(lab_qemu_uid)" "$TMPD/sock"
cat > "$TMPD/pull.xml" <<XML
<domainbackup mode='pull'>
  <server transport='unix' socket='$TMPD/sock/nbd.sock'/>
  <disks><disk name='vda' backup='yes' type='file'><scratch file='$TMPD/scratch.qcow2'/></disk></disks>
</domainbackup>
XML
virsh backup-begin "$dom" "$TMPD/pull.xml"
cleanup_fn virsh domjobabort "$dom"
virsh domjobinfo "$dom" | grep -q '^Operation: *Backup' || fail "the pull job is not running"

expect_exit 5 vckpt backup "$dom" --repo "$TMPD/r" --full --no-validate --name b1
test -z "$(virsh -q checkpoint-list "$dom" --name)"
expect_exit 4 vckpt --json backup "$dom" --repo "$TMPD/r" --full --name b2
jq -e '[.preflight.findings[].code] | index("job-running") != null' "$out"
test -z "$(virsh -q checkpoint-list "$dom" --name)"
