#!/usr/bin/env bash
# The network to the remote hypervisor goes away during a pull backup's
# copy: the copy fails after nbd-timeout seconds instead of hanging
# (TCP_USER_TIMEOUT and keepalive on the NBD connections); once the network
# is back, the backup is rolled back (job ended, checkpoint deleted, no
# file left, exit 1), and the next backup works and restores bit for bit.
. "${srcdir:-.}/functions.sh"
set -e -x
requires_root
requires ss --version
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}
lab_remote_start
export LIBVIRT_DEFAULT_URI=$REMOTE_URI

dom=cut
R=$TMPD/repo
lab_remote lab_domain_define "$dom" --disk 256M
lab_remote lab_domain_start "$dom"
qemu-img create -q -f qcow2 "$TMPD/model-vda.qcow2" 256M
put ()
{
    lab_remote lab_write "$dom" "$1" "$2" "$3" "$4"
    qemu-io -f qcow2 -c "write -P $2 $3 $4" "$TMPD/model-$1.qcow2" >/dev/null
}
cat > "$TMPD/vckpt.conf" <<EOC
nbd-tls-dir = "$REMOTE_TLS_CLIENT_DIR"
nbd-timeout = 3
EOC
export VCKPT_CONFIG=$TMPD/vckpt.conf
put vda 0x31 0 64M

# NBD connections from here to the remote's exports (not libvirt's 16509).
nbd_conns () { ss -Htn state established "( dst $REMOTE_ADDR and not dport = :16509 )" | wc -l; }
no_nbd_conns () { [ "$(nbd_conns)" -eq 0 ]; }

hold_at pull-copying "$VCKPT" backup "$dom" --repo "$R" --full --name cut1
# Stopped in the middle of the copy, its NBD connections established.
test "$(nbd_conns)" -ge 1
lab_remote_net down
kill -CONT "$held"
# Unanswered, they time out (3 s) and are closed; vckpt's libvirt calls
# wait for the network.
wait_for 60 "the end of the NBD connections" no_nbd_conns
kill -0 "$held"
lab_remote_net up
rc=0; wait "$held" || rc=$?
cat "$TMPD/e"
test "$rc" -eq 1 || fail "exit $rc, want 1"
# The first to time out says it: the copying worker, or one that was still
# connecting when the network went (its TLS handshake times out too).
grep -E -q "cannot (copy: nbd_pread|connect to libvirt's NBD export)" "$TMPD/e"
if grep -q "the rollback is not complete" "$TMPD/e"; then
    # libvirt 11 can still be handling QEMU's events of the cut (its state
    # change lock) when vckpt deletes the checkpoint: then vckpt says so,
    # keeps its journal, and the next run finishes the rollback.
    grep -q "the next vckpt run for this domain will finish it" "$TMPD/e"
    wait_for 60 "the remote's job to end" \
        sh -c "virsh -c '$REMOTE_URI' domjobinfo '$dom' | grep -q 'Job type: *None'"
    expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name k1
    grep -q "cleaned up after interrupted backup" "$err"
else
    grep -q "checkpoint 'cut1' deleted" "$TMPD/e"
    test ! -e "$R/$dom/pending.xml"
    test "$(find "$R/$dom" -name '*.qcow2' | wc -l)" -eq 0
    lab_remote_virsh domjobinfo "$dom" | grep -q 'Job type: *None'
    expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name k1
fi
if lab_remote_virsh checkpoint-list "$dom" --name | grep -q '^cut1$'; then
    fail "checkpoint cut1 is left"
fi
jq -e '.level == "full" and .job == "pull"' "$out"
mkdir "$TMPD/r"
expect_exit 0 vckpt restore "$dom" --repo "$R" --at k1 --to "$TMPD/r"
qemu-img compare -q "$TMPD/model-vda.qcow2" "$TMPD/r/vda.qcow2"
