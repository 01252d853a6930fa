#!/usr/bin/env bash
# Backups of a running two-disk domain (a name with a space): full, then
# incremental, auto, differential, auto; a restore at every point compared
# bit for bit with a model image holding exactly what had been written by
# then; verify, list-backups, restore --define; and the bad inputs.
. "${srcdir:-.}/functions.sh"
set -e -x
lab_start
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom='web 1'
R=$TMPD/repo
lab_domain_define "$dom" --disk 64M --disk 32M
lab_domain_start "$dom"

# The model of each disk: a plain image receiving the same writes.
qemu-img create -q -f qcow2 "$TMPD/model-vda.qcow2" 64M
qemu-img create -q -f qcow2 "$TMPD/model-vdb.qcow2" 32M
put() {   # put DISK PATTERN OFFSET LENGTH: write to the guest and the model
    lab_write "$dom" "$1" "$2" "$3" "$4"
    qemu-io -f qcow2 -c "write -P $2 $3 $4" "$TMPD/model-$1.qcow2" >/dev/null
}
snap() {  # snap N: keep the models as they are now
    cp "$TMPD/model-vda.qcow2" "$TMPD/m$1-vda.qcow2"
    cp "$TMPD/model-vdb.qcow2" "$TMPD/m$1-vdb.qcow2"
}
backup() { expect_exit 0 vckpt --json backup "$dom" --repo "$R" "$@"; }

put vda 0x10 0 1M
put vdb 0x20 0 1M
backup --full --name k0
test "$(jq -r '.level, .checkpoint, .since' "$out" | tr '\n' ' ')" = "full k0 null "
snap 0

put vda 0x11 2M 1M
backup --incremental k0 --name k1
test "$(jq -r '.level, .since' "$out" | tr '\n' ' ')" = "incremental k0 "
jq -e '.bytes >= 1048576' "$out"
snap 1

put vda 0x12 4M 1M
put vda 0x13 0 512K          # overwrite part of the full backup's data
put vdb 0x21 8M 3M
backup --auto --name k2
test "$(jq -r '.level, .since, .auto_reason' "$out" | tr '\n' ' ')" = "incremental k1 null "
snap 2

put vda 0x14 8M 1M
backup --differential --name k3
test "$(jq -r '.level, .since' "$out" | tr '\n' ' ')" = "differential k0 "
snap 3

backup --auto --name k4       # nothing written since: an empty increment
test "$(jq -r '.level, .since' "$out" | tr '\n' ' ')" = "incremental k3 "
snap 4

# Checkpoints follow the repository: the chain's full (for a
# differential) and the newest (for an incremental) stay, nothing else.
test "$(virsh -q checkpoint-list "$dom" --name | sort | tr '\n' ' ')" = "k0 k4 "

# Restore each point and compare bit for bit.
for i in 0 1 2 3 4; do
    mkdir "$TMPD/r$i"
    expect_exit 0 vckpt restore "$dom" --repo "$R" --at k$i --to "$TMPD/r$i"
    for d in vda vdb; do
        qemu-img info --output=json "$TMPD/r$i/$d.qcow2" | jq -e '."backing-filename" == null'
        qemu-img compare -q "$TMPD/m$i-$d.qcow2" "$TMPD/r$i/$d.qcow2" ||
            fail "restore at k$i: $d differs from what was written"
    done
done
# The models really differ from one point to the next (the test can fail).
# qemu-img compare: 1 means the images differ (2 would be an error).
expect_exit 1 qemu-img compare -q "$TMPD/m0-vda.qcow2" "$TMPD/m1-vda.qcow2"
expect_exit 1 qemu-img compare -q "$TMPD/m2-vdb.qcow2" "$TMPD/m1-vdb.qcow2"

# --latest is the default; --disk picks disks.
mkdir "$TMPD/rl"
expect_exit 0 vckpt restore "$dom" --repo "$R" --latest --disk vdb --to "$TMPD/rl"
test "$(ls "$TMPD/rl")" = vdb.qcow2
qemu-img compare -q "$TMPD/m4-vdb.qcow2" "$TMPD/rl/vdb.qcow2"

# list-backups
expect_exit 0 vckpt --json list-backups "$dom" --repo "$R"
test "$(jq -r '[.backups[].level] | join(",")' "$out")" = full,incremental,incremental,differential,incremental
test "$(jq -r '[.backups[].checkpoint] | join(",")' "$out")" = k0,k1,k2,k3,k4
test "$(jq -r '.backups[3].parent == .backups[0].id' "$out")" = true
test "$(jq -r '[.backups[] | .state] | unique | join(",")' "$out")" = complete
expect_exit 0 vckpt list-backups "$dom" --repo "$R"
test "$(grep -c ' k[0-9] ' "$out")" -eq 5

# The manifest validates against our schema.
xmllint --noout --relaxng "$abs_top_srcdir/xml/manifest.rng" "$R/$dom/manifest.xml"

# verify: OK, then a damaged file is found.
expect_exit 0 vckpt verify "$dom" --repo "$R"
grep -q '^OK: 5 backups, 10 disk files, 0 problems' "$out"
f=$(jq -r '.backups[1].disks[0].file' <(vckpt --json list-backups "$dom" --repo "$R"))
printf '\xff' | dd of="$R/$dom/$f" bs=1 seek=$((3 * 1024 * 1024)) conv=notrunc status=none
expect_exit 1 vckpt --json verify "$dom" --repo "$R"
assert_finding "$out" checksum-mismatch severity=error disk=vda
jq -e '.findings | length == 1' "$out"
expect_exit 1 vckpt verify "$dom" --repo "$R"
grep -q '^FAILED: 5 backups, 10 disk files, 1 problem' "$out"

# restore --define: a new domain on the restored images, with a new UUID,
# that starts.  k2 stacks on the file damaged above: restore refuses it, and
# --no-verify (which skips the checksums) takes it as it is.
mkdir "$TMPD/rd"
expect_exit 1 vckpt restore "$dom" --repo "$R" --at k2 --to "$TMPD/rd" --define web-restored
grep -q 'size [0-9]*, the manifest says [0-9]*: backup inc-.* cannot be restored' "$err"
test -z "$(ls -A "$TMPD/rd")"
if virsh dominfo web-restored >/dev/null 2>&1; then fail "a refused restore defined the domain"; fi
expect_exit 0 vckpt restore "$dom" --repo "$R" --at k2 --to "$TMPD/rd" --define web-restored --no-verify
test "$(virsh domuuid web-restored)" != "$(virsh domuuid "$dom")"
virsh dumpxml web-restored | grep -q "$TMPD/rd/web-restored-vda.qcow2"
virsh dumpxml web-restored > "$TMPD/web-restored.xml"
if grep -q -F -e "$(lab_disk_path "$dom" vda)" "$TMPD/web-restored.xml"; then
    fail "the restored domain still uses the original's disk image"
fi
qemu-img compare -q "$TMPD/m2-vda.qcow2" "$TMPD/rd/web-restored-vda.qcow2"
virsh start web-restored
virsh destroy web-restored

# Bad input: clear message, documented code, nothing written or replaced.
ls -la "$TMPD/r0" > "$TMPD/r0.before"
expect_exit 1 vckpt restore "$dom" --repo "$R" --at k0 --to "$TMPD/r0"
grep -q 'already exists: restore never replaces a file' "$err"
ls -la "$TMPD/r0" | diff - "$TMPD/r0.before"
qemu-img compare -q "$TMPD/m0-vda.qcow2" "$TMPD/r0/vda.qcow2"
expect_exit 3 vckpt restore "$dom" --repo "$R" --at nochk --to "$TMPD/rl"
expect_exit 3 vckpt restore "$dom" --repo "$R" --to "$TMPD/nodir"
expect_exit 3 vckpt restore "$dom" --repo "$R" --disk vdz --to "$TMPD/rl"
expect_exit 2 vckpt restore "$dom" --repo "$R"
expect_exit 2 vckpt restore "$dom" --repo "$R" --at k1 --latest --to "$TMPD/rl"
expect_exit 3 vckpt list-backups 'no such domain' --repo "$R"
expect_exit 2 vckpt backup "$dom" --repo "$R"
grep -q 'a mode option is required' "$err"
expect_exit 2 vckpt backup "$dom" --repo "$R" --full --auto
expect_exit 2 vckpt backup "$dom" --repo "$R" --full --name 'a/b'
expect_exit 3 vckpt backup 'no such domain' --repo "$R" --full
expect_exit 3 vckpt backup "$dom" --repo "$R" --full --disk vdz
expect_exit 4 vckpt --json backup "$dom" --repo "$R" --incremental nochk
assert_finding "$out" previous-backup-missing severity=error
expect_exit 2 vckpt backup "$dom" --repo "$R" --full --name k4
grep -q "checkpoint 'k4' already exists" "$err"
test "$(virsh -q checkpoint-list "$dom" --name | sort | tr '\n' ' ')" = "k0 k4 "
test "$(jq -r '.backups | length' <(vckpt --json list-backups "$dom" --repo "$R"))" = 5

# --dry-run: the XML validates against libvirt's schemas, nothing starts.
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --dry-run --name k9
jq -r .backup_xml "$out" > "$TMPD/b.xml"
jq -r .checkpoint_xml "$out" > "$TMPD/c.xml"
xmllint --noout --relaxng "$LIBVIRT_SCHEMAS/domainbackup.rng" "$TMPD/b.xml"
xmllint --noout --relaxng "$LIBVIRT_SCHEMAS/domaincheckpoint.rng" "$TMPD/c.xml"
grep -q '<incremental>k4</incremental>' "$TMPD/b.xml"
virsh -q checkpoint-list "$dom" --name > "$TMPD/checkpoints"
assert_no_grep '^k9$' "$TMPD/checkpoints"
test "$(jq -r '.backups | length' <(vckpt --json list-backups "$dom" --repo "$R"))" = 5

# validate --repo: the repository side of the preflight, read-only.
expect_exit 0 vckpt validate "$dom" --repo "$R"
grep -q '^OK: an incremental backup' "$out"
# A checkpoint no backup ended at: --auto ignores it (validate --repo
# predicts --auto), an incremental from it is refused.
expect_exit 0 vckpt checkpoint create "$dom" loose
expect_exit 0 vckpt --json validate "$dom" --repo "$R"
assert_no_finding "$out" previous-backup-missing
expect_exit 4 vckpt --json validate "$dom" --repo "$R" --checkpoint loose
assert_finding "$out" previous-backup-missing severity=error "message~no complete backup that ended at checkpoint 'loose'"
# An empty repository: --auto would start with a full backup.
expect_exit 0 vckpt --json validate "$dom" --repo "$TMPD/empty-repo"
jq -e '.checkpoint == null' "$out"
expect_exit 4 vckpt --json validate "$dom" --repo "$TMPD/empty-repo" --checkpoint loose
assert_finding "$out" previous-backup-missing severity=error "message~has no backup of 'web 1' yet"
test ! -e "$TMPD/empty-repo"
expect_exit 0 vckpt validate "$dom" --full --repo "$TMPD/empty-repo"
expect_exit 0 vckpt checkpoint delete "$dom" loose
