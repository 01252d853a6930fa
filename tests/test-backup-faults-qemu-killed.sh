#!/usr/bin/env bash
# QEMU killed while the backup job copies: the run fails (exit 1), its
# checkpoint goes, the manifest keeps only the complete backup.  a1's
# bitmaps, created during that QEMU run, never reached the images, so the
# next --auto starts a new full chain and says why; both points restore.
. "${srcdir:-.}/faults-functions.sh"
set -e -x
faults_setup
faults_fill
put vda 0x35 512M 448M          # a longer copy to catch running
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name a1

put vda 0x33 600M 1M
# Like a guest that syncs: writes not flushed are lost when QEMU is killed
# (QEMU caches qcow2 metadata), and the model could not know.
for n in 0 1; do
    virsh qemu-monitor-command "$dom" --hmp \
        "qemu-io -d /machine/peripheral/virtio-disk$n/virtio-backend \"flush\"" >&2
done
# vckpt stops itself right after libvirt started the job; the test then
# stops QEMU (SIGSTOP: its copy halts where it is, no QMP round trip that
# a fast copy could outrun) and looks at the new target file: less than
# a complete full's data in it means the copy was caught running, and
# QEMU is killed as it stands.  A machine fast enough to finish the copy
# before the test stops QEMU makes a complete backup (committed: it holds
# every byte): then QEMU goes on and the test tries again.
qpid=$(cat "/proc/$LAB_DAEMON_PID/root/run/libvirt/qemu/$dom.pid")
cleanup_fn kill -CONT "$qpid"     # never left stopped by a failing test
allocated() { local b s; read -r b s < <(stat -c '%b %B' "$1"); echo $(( b * s )); }
full=$(allocated "$(find "$R/$dom" -name '*.vda.qcow2')")
slowed=
for try in 1 2 3 4 5; do
    touch "$TMPD/before-q$try"
    hold_at job-started "$VCKPT" backup "$dom" --repo "$R" --full --name q$try
    kill -STOP "$qpid"
    target=$(find "$R/$dom" -name '*.vda.qcow2' -newer "$TMPD/before-q$try")
    [ -n "$target" ] || { kill -CONT "$qpid"; fail "q$try: no target file"; }
    held_bytes=$(allocated "$target")
    if [ "$held_bytes" -lt $(( full - 16 * 1024 * 1024 )) ]; then
        slowed=q$try
        break
    fi
    kill -CONT "$qpid"
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
lab_expect_pattern "$TMPD/ra1/vda.qcow2" 600M 1M 0x35
lab_expect_pattern "$TMPD/ra1/vda.qcow2" 256M 256M 0x32
