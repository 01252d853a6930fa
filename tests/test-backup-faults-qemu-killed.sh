#!/usr/bin/env bash
# QEMU killed while the backup job copies: the run fails (exit 1), its
# checkpoint goes, the manifest keeps only the complete backup.  a1's
# bitmaps, created during that QEMU run, never reached the images, so the
# next --auto starts a new full chain and says why; both points restore.
. "${srcdir:-.}/faults-functions.sh"
set -e -x
faults_setup
faults_fill
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name a1

put vda 0x33 600M 1M
# Like a guest that syncs: writes not flushed are lost when QEMU is killed
# (QEMU caches qcow2 metadata), and the model could not know.
for n in 0 1; do
    virsh qemu-monitor-command "$dom" --hmp \
        "qemu-io -d /machine/peripheral/virtio-disk$n/virtio-backend \"flush\"" >&2
done
# vckpt stops itself right after libvirt started the job, and QEMU's copy
# is slowed to a crawl before QEMU is killed.  A machine fast enough to
# finish the copy before the test can slow it makes a complete backup
# (committed: it holds every byte): then the test tries again.
slowed=
for try in 1 2 3 4 5; do
    hold_at job-started "$VCKPT" backup "$dom" --repo "$R" --full --name q$try
    for j in $(virsh qemu-monitor-command "$dom" '{"execute":"query-block-jobs"}' |
               jq -r '.return[] | select(.type == "backup") | .device'); do
        virsh qemu-monitor-command "$dom" \
            "{\"execute\":\"block-job-set-speed\",\"arguments\":{\"device\":\"$j\",\"speed\":65536}}" >/dev/null || true
    done
    # Slowed first, then looked at: a job still copying now stays so.
    if virsh qemu-monitor-command "$dom" '{"execute":"query-block-jobs"}' |
            jq -e '[.return[] | select(.type == "backup" and .status == "running" and .offset < .len)] | length > 0' >/dev/null; then
        slowed=q$try
        break
    fi
    release
    test "$rc" -eq 0 || fail "a backup that finished its copy: exit $rc"
done
test -n "$slowed" || fail "no try caught the copy running"
extra=$(( try - 1 ))      # the complete backups of the tries before
lab_domain_kill "$dom"
release
test "$rc" -eq 1 || fail "QEMU killed: exit $rc, want 1"
grep -q "the domain stopped during the backup" "$TMPD/e"
no_checkpoint "$slowed"
test "$(nbackups)" -eq $(( 1 + extra ))
test "$(disk_files)" -eq $(( 2 + 2 * extra ))

lab_domain_start "$dom"
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name a2
jq -e '.level == "full" and (.auto_reason | test("^bitmap-missing vda: "))' "$out"
jq -e '.preflight.running' "$out"
# ... and the manifest records why.
vckpt --json list-backups "$dom" --repo "$R" | jq -e '.backups[-1].note | test("^auto: new full chain: bitmap-missing vda: ")'
xmllint --noout --relaxng "$abs_top_srcdir/xml/manifest.rng" "$R/$dom/manifest.xml"
restored_ok a2 vda vdb
# a1 still restores the state before the 0x33 write.
mkdir "$TMPD/ra1"
expect_exit 0 vckpt restore "$dom" --repo "$R" --at a1 --to "$TMPD/ra1"
lab_expect_pattern "$TMPD/ra1/vda.qcow2" 600M 1M zero
lab_expect_pattern "$TMPD/ra1/vda.qcow2" 256M 256M 0x32
