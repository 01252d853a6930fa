#!/usr/bin/env bash
# Backups from a backup host of a domain on another hypervisor (the remote
# lab: its own libvirtd over TCP, its images invisible from here): pull
# mode by default, the NBD export over TLS with the server verified.
# validate judges the remote domain by QEMU's live bitmaps and says its
# images were not read; a full and two incrementals restore bit for bit;
# libvirt's scratch files go; no client certificates is a usage error
# before anything starts; a server the CA does not vouch for fails the
# backup and rolls it back; a shut-off remote domain is refused.
. "${srcdir:-.}/functions.sh"
set -e -x
requires_root
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}
lab_remote_start
export LIBVIRT_DEFAULT_URI=$REMOTE_URI

dom="remote web"
R=$TMPD/repo
lab_remote lab_domain_define "$dom" --disk 64M --disk 16M
lab_remote lab_domain_start "$dom"
for d in vda:64M vdb:16M; do
    qemu-img create -q -f qcow2 "$TMPD/model-${d%:*}.qcow2" "${d#*:}"
done
put ()
{
    lab_remote lab_write "$dom" "$1" "$2" "$3" "$4"
    qemu-io -f qcow2 -c "write -P $2 $3 $4" "$TMPD/model-$1.qcow2" >/dev/null
}
snap () { local d; for d in vda vdb; do cp "$TMPD/model-$d.qcow2" "$TMPD/m$1-$d.qcow2"; done; }
cat > "$TMPD/vckpt.conf" <<EOC
nbd-tls-dir = "$REMOTE_TLS_CLIENT_DIR"
nbd-timeout = 10
EOC
export VCKPT_CONFIG=$TMPD/vckpt.conf
img=$(lab_remote lab_disk_path "$dom" vda)
test ! -e "$img"

put vda 0x10 0 4M
put vdb 0x20 1M 1M
expect_exit 0 vckpt --json validate "$dom"
jq -e '[.findings[] | select(.code == "disk-not-inspected") | .severity] == ["info", "info"]' "$out"
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --full --name k0
jq -e '.job == "pull" and .level == "full"' "$out"
snap 0

put vda 0x11 2M 1M
put vdb 0x21 0 64K
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name k1
jq -e '.job == "pull" and .level == "incremental" and .since == "k0"' "$out"
jq -e '.bytes >= 1048576 and .bytes < 4194304' "$out"
snap 1

# The scratch files in a directory of the policy's choosing.
echo "scratch-dir = \"$REMOTE_SCRATCH_DIR\"" >> "$TMPD/vckpt.conf"
put vda 0x12 8M 1M
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name k2
jq -e '.level == "incremental" and .since == "k1"' "$out"
snap 2
test -z "$(lab_remote_exec ls -A "$REMOTE_SCRATCH_DIR")"
if lab_remote_exec ls "$(dirname "$img")" | grep -q vckpt-scratch; then
    fail "scratch files left next to the remote's images"
fi
test "$(lab_remote_virsh checkpoint-list "$dom" --name | sort | tr '\n' ' ')" = "k0 k2 "

for n in 0 1 2; do
    mkdir "$TMPD/r$n"
    expect_exit 0 vckpt restore "$dom" --repo "$R" --at k$n --to "$TMPD/r$n"
    for d in vda vdb; do
        qemu-img compare -q "$TMPD/m$n-$d.qcow2" "$TMPD/r$n/$d.qcow2" ||
            fail "restore at k$n: $d differs from what was written"
    done
done
expect_exit 0 vckpt verify "$dom" --repo "$R"
# status, on the backup host, knows where each backup came from.
expect_exit 0 vckpt --json status --repo "$R"
jq -e --arg d "$dom" --arg u "$REMOTE_URI" \
    '.repositories[].domains[] | select(.domain == $d) | .state == "ok" and .last_backup.uri == $u and .last_backup.id != null' "$out"

# No client certificates: a usage error, nothing started.
cat > "$TMPD/nocert.conf" <<EOC
nbd-tls-dir = "$TMPD/nowhere"
EOC
VCKPT_CONFIG=$TMPD/nocert.conf expect_exit 2 vckpt backup "$dom" --repo "$R" --auto --name nocert
grep -q "needs TLS client certificates: $TMPD/nowhere/ca-cert.pem is missing" "$err"
test "$(lab_remote_virsh checkpoint-list "$dom" --name | sort | tr '\n' ' ')" = "k0 k2 "

# A server its CA does not vouch for: the backup fails, rolled back.
cat > "$TMPD/wrongca.conf" <<EOC
nbd-tls-dir = "$REMOTE_TLS_WRONG_CA_DIR"
EOC
VCKPT_CONFIG=$TMPD/wrongca.conf expect_exit 1 vckpt backup "$dom" --repo "$R" --auto --name wrongca
grep -qi "certificate" "$err"
grep -q "checkpoint 'wrongca' deleted" "$err"
test "$(lab_remote_virsh checkpoint-list "$dom" --name | sort | tr '\n' ' ')" = "k0 k2 "
lab_remote_virsh domjobinfo "$dom" | grep -q 'Job type: *None'
test "$(vckpt --json list-backups "$dom" --repo "$R" | jq '.backups | length')" -eq 3

# Shut off on the remote host: refused, nothing started.
lab_remote lab_domain_stop "$dom"
expect_exit 4 vckpt --json backup "$dom" --repo "$R" --auto --name off
jq -e '[.preflight.findings[] | select(.code == "remote-shut-off")] | length == 1' "$out"
