# Shared set-up of the tests of copies in a restic repository (restic.am).
#
#   . "${srcdir:-.}/restic-functions.sh"
#
# Sources backup-functions.sh (the five points of 'web 1' in $R, models
# $TMPD/mN-vda.qcow2 and $TMPD/mN-vdb.qcow2) and defines:
#   RR, RP                 the restic repository ($TMPD/restic) and its
#                          password file
#   rs_restic ARGS...      restic itself on $RR with $RP (the test's look)
#   rs_init                make the restic repository
#   rs_copy [CODE]         copy $dom from $R into restic:$RR; expect exit
#                          CODE (default 0), the JSON result in $out
#   rs_snapshots           the ids of $dom's snapshots in $RR, oldest first
#   rs_sftp_start          an SFTP server in a network namespace; RR then
#                          names a restic repository there (see below)
#   rs_restore_point N SNAP restore k$N from snapshot SNAP (or "" for the
#                          newest) into $TMPD/rN and compare both disks
#                          bit for bit with the models of point N; nothing
#                          else is left in $TMPD/rN
# restic's cache is in $TMPD (RESTIC_CACHE_DIR), not in root's home.
. "${srcdir:-.}/backup-functions.sh"
requires restic version

RR=${RR:-$TMPD/restic}
RP=$TMPD/restic.pw
echo "a restic password for vckpt's tests" >"$RP"
chmod 0600 "$RP"
export RESTIC_CACHE_DIR=$TMPD/restic-cache

rs_restic ()
{
    restic --repo "$RR" --password-file "$RP" "$@"
}

rs_init ()
{
    rs_restic init -q
}

rs_copy ()
{
    expect_exit "${1:-0}" vckpt --json copy "$dom" --repo "$R" --to "restic:$RR" --password-file "$RP"
}

rs_snapshots ()
{
    rs_restic snapshots --json --tag "vckpt,domain=$dom" | jq -r '.[].id'
}

rs_restore_point ()
{
    local n="$1" snap="$2" d
    mkdir "$TMPD/r$n"
    expect_exit 0 vckpt restore "$dom" --from "restic:$RR" --password-file "$RP" \
        ${snap:+--snapshot "$snap"} --at "k$n" --to "$TMPD/r$n"
    for d in vda vdb; do
        qemu-img compare -q "$TMPD/m$n-$d.qcow2" "$TMPD/r$n/$d.qcow2" ||
            fail "restore from restic at k$n: $d differs from what was written"
    done
    assert_eq "vda.qcow2 vdb.qcow2" "$(ls -A "$TMPD/r$n" | tr '\n' ' ' | sed 's/ $//')" \
        "what restore --from left in $TMPD/r$n"
}

# _rs_end PID: end process PID if it still runs (teardown).
_rs_end ()
{
    kill "$1" 2>/dev/null || true
}

# rs_sftp_start
#
# An SFTP server on a "remote host": Debian's sshd in a network namespace
# of its own (and a mount namespace with a private /run for its privilege
# separation directory), reached from here over a veth pair, vckpt-shN
# here and vckpt-spN there, with the two addresses of the Nth /30 of
# 203.0.113.0/24 (TEST-NET-3; N from this shell's PID, claimed by making
# the namespace vckpt-sftpN, so tests running in parallel never share
# one).  Its host key and the client's key are made for the test; root
# logs in with the key only.  Sets RR to the restic repository there
# (sftp:root@ADDR:$TMPD/sftp/repo), SFTP_ADDR, SFTP_HOST_ADDR, SFTP_LOG
# (sshd's log), SFTP_PID (sshd, a child of the test), and puts an ssh in front of PATH that uses the test's
# configuration (key, known_hosts, BatchMode), as an admin's ~/.ssh/config
# would.  Teardown is registered.
rs_sftp_start ()
{
    local dir=$TMPD/sftp i n err ns host peer base haddr raddr
    requires ip -V
    requires unshare --version
    requires /usr/sbin/sshd -V
    requires ssh -V
    mkdir -p "$dir/bin" "$dir/repo"
    n=
    for (( i = 0; i < 64; ++i )); do
        n=$(( ($$ + i) % 64 ))
        ns=vckpt-sftp$n
        host=vckpt-sh$n
        peer=vckpt-sp$n
        if err=$(ip netns add "$ns" 2>&1); then
            if err=$(ip link add "$host" type veth peer name "$peer" netns "$ns" 2>&1); then
                break
            fi
            ip netns del "$ns"
        fi
        [[ "$err" == *"File exists"* ]] || fail "sftp: cannot make $ns: $err"
        n=
    done
    [ -n "$n" ] || fail "sftp: no free namespace vckpt-sftpN after 64 tries"
    cleanup_fn ip netns del "$ns"
    cleanup_fn ip link del dev "$host"
    base=$(( n * 4 ))
    haddr=203.0.113.$(( base + 1 ))
    raddr=203.0.113.$(( base + 2 ))
    ip addr add "$haddr/30" dev "$host"
    ip link set "$host" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$raddr/30" dev "$peer"
    ip -n "$ns" link set "$peer" up
    [[ "$(ip -4 route get "$raddr")" == *" dev $host "* ]] ||
        fail "sftp: $raddr is not routed through $host: $(ip -4 route get "$raddr")"

    ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
    ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key"
    cp "$dir/client_key.pub" "$dir/authorized_keys"
    echo "$raddr $(cut -d' ' -f1,2 "$dir/host_key.pub")" >"$dir/known_hosts"
    cat >"$dir/sshd_config" <<EOC
ListenAddress $raddr:22
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
Subsystem sftp internal-sftp
EOC
    cat >"$dir/ssh_config" <<EOC
Host *
  IdentityFile $dir/client_key
  IdentitiesOnly yes
  UserKnownHostsFile $dir/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 10
EOC
    printf '#!/bin/sh\nexec %s -F %s "$@"\n' "$(command -v ssh)" "$dir/ssh_config" \
        >"$dir/bin/ssh"
    chmod 0755 "$dir/bin/ssh"
    export PATH="$dir/bin:$PATH"

    SFTP_LOG=$dir/sshd.log
    ip netns exec "$ns" unshare --mount --propagation private sh -e -c '
        mount -t tmpfs -o mode=0755 tmpfs /run
        mkdir -m 0755 /run/sshd
        exec /usr/sbin/sshd -D -e -f "$1"' sh "$dir/sshd_config" 2>"$SFTP_LOG" &
    SFTP_PID=$!
    cleanup_fn _rs_end "$SFTP_PID"
    wait_for 20 "sshd listening on $raddr" grep -q 'Server listening on' "$SFTP_LOG"
    SFTP_ADDR=$raddr
    SFTP_HOST_ADDR=$haddr
    RR=sftp:root@$raddr:$dir/repo
}
