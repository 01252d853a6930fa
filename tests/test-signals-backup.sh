#!/usr/bin/env bash
# Every stop signal (SIGINT, SIGTERM, SIGHUP from a dropped ssh session,
# SIGQUIT) at every phase of a backup: as the journal is written, as the
# target files are created, during the job, while the new files are
# hashed: exit 6 and nothing left (no new checkpoint, file, journal or
# job); as the manifest is committed: exit 0, "came too late", the backup
# is complete.  A shut-off domain's backup (the offline job) rolls back the
# same while it hashes.  Afterwards the next --auto is sound and restores
# exactly.
. "${srcdir:-.}/signals-functions.sh"
set -e -x
sig_requires
lab_start

dom=sigb
R=$TMPD/repo
lab_domain_define "$dom" --disk 256M --disk 64M
lab_domain_start "$dom"
qemu-img create -q -f qcow2 "$TMPD/model.qcow2" 256M
put () {
    lab_write "$dom" vda "$1" "$2" "$3"
    qemu-io -f qcow2 -c "write -P $1 $2 $3" "$TMPD/model.qcow2" >/dev/null
}
put 0x41 0 64M
expect_exit 0 vckpt backup "$dom" --repo "$R" --full
put 0x42 32M 64M

state () {
    virsh -q checkpoint-list "$dom" --name | sort
    vckpt --json list-backups "$dom" --repo "$R" | jq -c '[.backups[].id]'
    find "$R/$dom" -name '*.qcow2' | sort
}
n=0
for moment in "renameat 1 $R/$dom" "clone3 1" "sync_file_range 1" "fadvise64 1"; do
    for sig in $STOP_SIGNALS; do
        before=$(state)
        # shellcheck disable=SC2086
        sig_at "$sig" $moment -- "$VCKPT" backup "$dom" --repo "$R" --auto
        sig_stopped "$sig"
        assert_eq "$before" "$(state)" "SIG$sig at $moment: left behind"
        test ! -e "$R/$dom/pending.xml" || fail "SIG$sig at $moment: the journal is left"
        if virsh domjobinfo "$dom" | grep -q '^Operation: *Backup'; then
            fail "SIG$sig at $moment: a backup job still runs"
        fi
    done
done
# The manifest's rename is the commit point: too late to stop.
for sig in $STOP_SIGNALS; do
    n=$(vckpt --json list-backups "$dom" --repo "$R" | jq '.backups | length')
    sig_at "$sig" renameat 2 "$R/$dom" -- "$VCKPT" backup "$dom" --repo "$R" --auto
    sig_too_late "$sig"
    vckpt --json list-backups "$dom" --repo "$R" | jq -e --argjson n "$n" '.backups | length == $n + 1'
    test ! -e "$R/$dom/pending.xml"
done

# A shut-off domain's backup (the offline job) the same, while it hashes.
lab_domain_stop "$dom"
for sig in $STOP_SIGNALS; do
    before=$(state)
    sig_at "$sig" fadvise64 1 -- "$VCKPT" backup "$dom" --repo "$R" --auto
    sig_stopped "$sig"
    assert_eq "$before" "$(state)" "SIG$sig while an offline backup hashed: left behind"
    test ! -e "$R/$dom/pending.xml"
done
lab_domain_start "$dom"

put 0x43 100M 8M
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto
jq -e '.level == "incremental"' "$out"
mkdir "$TMPD/r"
expect_exit 0 vckpt restore "$dom" --repo "$R" --disk vda --to "$TMPD/r"
qemu-img compare -q "$TMPD/model.qcow2" "$TMPD/r/vda.qcow2"
