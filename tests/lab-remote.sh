# vckpt test suite: a second hypervisor on this machine ("remote lab"),
# for pull-mode backups over NBD with TLS from this side, the backup host.
#
# Sourced by lab.sh (so every test has it).  See ../../shared/lab.md,
# "Pull mode, NBD and TLS", for the facts this is built on.
#
# A remote lab is a lab (lab.sh: private libvirtd, QEMU as libvirt-qemu
# with dynamic ownership, TCG guests with no OS) that also has its own
# network namespace, joined to this one by a veth pair with an address on
# each end (198.18.x.y/30, unique per running test).  Its libvirtd
# listens there on TCP, without authentication: the backup side reaches it
# as qemu+tcp://REMOTE_ADDR/system.  Its images, scratch directory and
# /var/lib/libvirt are tmpfs mounted only inside its mount namespace: no
# file of them exists on this side, so code under test cannot read them;
# the test reaches them with lab_remote_exec or lab_remote.  Its qemu.conf
# sets backup_tls_x509_cert_dir (a private CA and a server certificate for
# REMOTE_ADDR, made with certtool for each lab: ECDSA keys and GnuTLS's
# built-in DH group take milliseconds) and backup_tls_x509_verify = 1, so
# a pull-mode export with <server transport='tcp' name='REMOTE_ADDR'
# port='P' tls='yes'/> demands a client certificate of that CA.
#
# API (every function fails the test loudly on an infrastructure error):
#   lab_remote_start [DIR]         start a remote lab (default DIR
#                                  $TMPD/remote) and make it the current
#                                  remote (REMOTE_* below); teardown is
#                                  registered.  The current lab (LAB,
#                                  LAB_URI...) stays as it was; if there is
#                                  none, LIBVIRT_DEFAULT_URI is set to
#                                  REMOTE_URI so nothing can reach the
#                                  host's own libvirtd by default
#   lab_remote_use DIR             make an already started remote lab the
#                                  current remote
#   lab_remote CMD [ARGS...]       run CMD with the current remote as the
#                                  current lab, then switch back: any lab_*
#                                  function of lab.sh (lab_domain_define,
#                                  lab_domain_start, lab_write, lab_disk_path,
#                                  lab_expect_pattern, lab_compare_images,
#                                  lab_bitmaps, lab_domain_kill,
#                                  lab_daemon_restart...), or virsh (over
#                                  its UNIX socket, as an admin on that host
#                                  would); returns CMD's status.  Image
#                                  arguments may name the remote's files and
#                                  this side's (those are visible there)
#   lab_remote_exec CMD [ARGS...]  run a program "on the remote host": in
#                                  its mount and network namespaces, where
#                                  its images and scratch files exist
#   lab_remote_virsh ARGS...       virsh -q -c REMOTE_URI (over TCP, as the
#                                  backup side sees the hypervisor)
#   lab_remote_nbd_uri EXPORT PORT [CLIENT-DIR]
#                                  print the libnbd URI of a TLS export on
#                                  the remote (client certificates of
#                                  CLIENT-DIR, default REMOTE_TLS_CLIENT_DIR),
#                                  for nbdinfo and nbdcopy
#   lab_remote_net down|up         cut the remote's network, or give it
#                                  back: new connections fail ("No route to
#                                  host", after ~3 s of ARP), established
#                                  ones stall as in a real outage; nothing
#                                  for REMOTE_ADDR leaks to another route
#   lab_remote_stop [DIR]          tear a remote lab down now (also runs at
#                                  exit): domains, daemon, QEMU, veth pair,
#                                  namespaces
#
# Variables set for the current remote:
#   REMOTE_LAB          its lab directory (LAB when it is the current lab)
#   REMOTE_ADDR         its address (libvirtd, NBD exports)
#   REMOTE_HOST_ADDR    this side's address on the veth pair
#   REMOTE_URI          qemu+tcp://REMOTE_ADDR/system
#   REMOTE_DAEMON_PID   its libvirtd
#   REMOTE_IMAGES       where lab_domain_define puts its images (hidden)
#   REMOTE_SCRATCH_DIR  an empty directory (root's, 0755, hidden) for
#                       pull-mode scratch files: libvirt creates them and
#                       hands them to QEMU's user, and removes them when
#                       the job ends
#   REMOTE_TLS_CLIENT_DIR
#                       client certificates for its NBD exports:
#                       ca-cert.pem, client-cert.pem, client-key.pem
#   REMOTE_TLS_WRONG_CA_DIR
#                       the same client certificate and key, but another
#                       CA's ca-cert.pem: the client cannot verify the
#                       server
#   REMOTE_TLS_UNTRUSTED_CLIENT_DIR
#                       the right ca-cert.pem, a client certificate of
#                       another CA: the server refuses the client
#   REMOTE_TLS_NO_CERT_DIR
#                       only the right ca-cert.pem: the server refuses a
#                       client without a certificate
#   REMOTE_TLS_SERVER_DIR
#                       the server's directory (backup_tls_x509_cert_dir)
# Certificates are valid from 2000 to 2099 (tests shift clocks).
#
# Environment:
#   LAB_REMOTE_KEY_TYPE  certtool's --key-type for the lab's keys (default
#                        ecdsa: ~10 ms a key; rsa: 2048 bits, ~50 ms).
#                        certtool gives an ECDSA certificate the key usage
#                        "digital signature" only, which QEMU 7.2 accepts
#                        (older QEMU also wanted "key encipherment")
#
# Several remotes: call lab_remote_start again with another DIR, switch
# with lab_remote_use (with no local lab, LIBVIRT_DEFAULT_URI is the last
# started remote's).  lab-guest.sh's real guests run in local labs only.
#
# Facts seen (libvirt 9.0, QEMU 7.2, libnbd 1.14, GnuTLS 3.7):
# - NBD exports listen on REMOTE_ADDR inside the remote's namespace, so
#   any port is free there; each remote lab has its own.
# - nbdinfo and nbdcopy take tls-certificates=DIR in the URI (as
#   lab_remote_nbd_uri prints it); libnbd's nbd_connect_uri refuses it
#   unless nbd_set_uri_allow_local_file is on.
# - A client trusting another CA fails with "Error in the certificate
#   verification"; a client the server refuses (no certificate, or one of
#   another CA: GnuTLS does not offer it) sees "The TLS connection was
#   non-properly terminated", and the domain's QEMU log
#   ($REMOTE_LAB/log/qemu/NAME.log, readable from here) "Verify failed:
#   No certificate was found"; plain nbd:// gets "Operation not supported
#   for export".
# - backup-begin with TLS takes ~0.05 s (dh-params.pem is there), a start
#   of a remote lab about as long as a local one plus ~0.5 s.

: "${LAB_REMOTE_KEY_TYPE:=ecdsa}"

# lab_remote_requires
#
# Skip the test unless everything a remote lab needs is installed.
lab_remote_requires ()
{
    lab_requires
    requires ip -V
    requires nsenter --version
    requires certtool --version
}

# _lab_remote_certtool DIR ARGS...
#
# certtool, its chatter in DIR/tls/certtool.log.
_lab_remote_certtool ()
{
    local dir="$1"
    shift
    certtool --no-text "$@" >>"$dir/tls/certtool.log" 2>&1 ||
        fail "lab: certtool $* failed: $(tail -n 5 "$dir/tls/certtool.log")"
}

# _lab_remote_cert DIR KEY CERT TEMPLATE CA-DIR
#
# Make a key and a certificate signed by the CA in CA-DIR.
_lab_remote_cert ()
{
    _lab_remote_certtool "$1" --generate-privkey --key-type "$LAB_REMOTE_KEY_TYPE" \
        --outfile "$2"
    _lab_remote_certtool "$1" --generate-certificate --load-privkey "$2" \
        --load-ca-certificate "$5/ca-cert.pem" --load-ca-privkey "$5/ca-key.pem" \
        --template "$4" --outfile "$3"
}

# _lab_remote_prepare DIR
#
# Called by lab_start --remote once the address is known, before libvirtd
# starts: make the certificates and turn on TLS for backup exports.
_lab_remote_prepare ()
{
    local dir="$1" t="$1/tls" addr gid=0 ca
    addr=$(cat "$dir/addr")
    mkdir -p "$t"/{ca,other-ca,server,client,wrong-ca,untrusted-client,no-cert}
    chmod 0700 "$t"/{ca,other-ca,client,wrong-ca,untrusted-client,no-cert}
    local dates='activation_date = "2000-01-01 00:00:00"
expiration_date = "2099-12-31 23:59:59"'

    for ca in ca other-ca; do
        printf 'cn = "vckpt test %s"\nca\ncert_signing_key\n%s\n' "$ca" "$dates" \
               >"$t/$ca.info"
        _lab_remote_certtool "$dir" --generate-privkey --key-type "$LAB_REMOTE_KEY_TYPE" \
            --outfile "$t/$ca/ca-key.pem"
        _lab_remote_certtool "$dir" --generate-self-signed \
            --load-privkey "$t/$ca/ca-key.pem" --template "$t/$ca.info" \
            --outfile "$t/$ca/ca-cert.pem"
    done
    # QEMU checks for both usages when the extension is there.
    printf 'cn = "%s"\nip_address = "%s"\ntls_www_server\nsigning_key\nencryption_key\n%s\n' \
           "$addr" "$addr" "$dates" >"$t/server.info"
    printf 'cn = "vckpt backup host"\ntls_www_client\nsigning_key\nencryption_key\n%s\n' \
           "$dates" >"$t/client.info"

    _lab_remote_cert "$dir" "$t/server/server-key.pem" "$t/server/server-cert.pem" \
                     "$t/server.info" "$t/ca"
    cp "$t/ca/ca-cert.pem" "$t/server/"
    # Without it QEMU makes DH parameters at every backup-begin (0.1-1.8 s).
    _lab_remote_certtool "$dir" --get-dh-params --sec-param medium \
        --outfile "$t/server/dh-params.pem"

    _lab_remote_cert "$dir" "$t/client/client-key.pem" "$t/client/client-cert.pem" \
                     "$t/client.info" "$t/ca"
    cp "$t/ca/ca-cert.pem" "$t/client/"
    cp "$t/other-ca/ca-cert.pem" "$t/client/client-cert.pem" \
       "$t/client/client-key.pem" "$t/wrong-ca/"
    _lab_remote_cert "$dir" "$t/untrusted-client/client-key.pem" \
                     "$t/untrusted-client/client-cert.pem" "$t/client.info" "$t/other-ca"
    cp "$t/ca/ca-cert.pem" "$t/untrusted-client/"
    cp "$t/ca/ca-cert.pem" "$t/no-cert/"

    # QEMU, not libvirtd, reads the server's files: its group may.
    if [ "${LAB_QEMU_USER:-libvirt-qemu}" != root ]; then
        gid=$(awk -F: -v u="${LAB_QEMU_USER:-libvirt-qemu}" '$1 == u { print $3 }' \
                  "$dir/group")
        [ -n "$gid" ] || fail "lab: no group ${LAB_QEMU_USER:-libvirt-qemu} in $dir/group"
    fi
    chown -R "0:$gid" "$t/server"
    chmod 0750 "$t/server"
    chmod 0640 "$t/server"/*

    cat >>"$dir/etc/qemu.conf" <<EOF
# Pull-mode backups: NBD exports with TLS, client certificates required.
backup_tls_x509_cert_dir = "$t/server"
backup_tls_x509_verify = 1
EOF
}

# lab_remote_use DIR
#
# Make the remote lab in DIR the current remote (REMOTE_*).
lab_remote_use ()
{
    local dir="$1"
    [ -f "$dir/remote" ] || fail "lab_remote_use: '$dir' is not a remote lab"
    REMOTE_LAB="$dir"
    REMOTE_ADDR=$(cat "$dir/addr")
    REMOTE_HOST_ADDR=$(cat "$dir/host-addr")
    REMOTE_URI=$(cat "$dir/remote-uri")
    REMOTE_DAEMON_PID=$(cat "$dir/daemon.pid")
    REMOTE_IMAGES="$dir/images"
    REMOTE_SCRATCH_DIR="$dir/scratch"
    REMOTE_TLS_SERVER_DIR="$dir/tls/server"
    REMOTE_TLS_CLIENT_DIR="$dir/tls/client"
    REMOTE_TLS_WRONG_CA_DIR="$dir/tls/wrong-ca"
    REMOTE_TLS_UNTRUSTED_CLIENT_DIR="$dir/tls/untrusted-client"
    REMOTE_TLS_NO_CERT_DIR="$dir/tls/no-cert"
    export REMOTE_LAB REMOTE_ADDR REMOTE_HOST_ADDR REMOTE_URI REMOTE_DAEMON_PID \
           REMOTE_IMAGES REMOTE_SCRATCH_DIR REMOTE_TLS_SERVER_DIR \
           REMOTE_TLS_CLIENT_DIR REMOTE_TLS_WRONG_CA_DIR \
           REMOTE_TLS_UNTRUSTED_CLIENT_DIR REMOTE_TLS_NO_CERT_DIR
}

# lab_remote_start [DIR]
#
# Start a remote lab and make it the current remote.
lab_remote_start ()
{
    local dir="${1:-$TMPD/remote}" t0 t1 d
    local had_lab="${LAB:-}" had_default="${LIBVIRT_DEFAULT_URI-}"
    local had_default_set="${LIBVIRT_DEFAULT_URI+1}"

    lab_remote_requires
    t0=$(date +%s%N)
    lab_start --remote "$dir"
    # lab_start made it the current lab: make it the current remote
    # instead, and give the current lab back.
    dir="$LAB"
    lab_remote_use "$dir"
    if [ -n "$had_lab" ]; then
        lab_use "$had_lab"
        if [ -n "$had_default_set" ]; then
            LIBVIRT_DEFAULT_URI="$had_default"
        fi
    else
        unset LAB LAB_URI LAB_DAEMON_PID
        LIBVIRT_DEFAULT_URI="$REMOTE_URI"
        export LIBVIRT_DEFAULT_URI
    fi

    # What the backup side sees: libvirtd over TCP, no file of the lab.
    timeout -k 5 "$LAB_START_TIMEOUT" virsh -q -c "$REMOTE_URI" version >/dev/null ||
        fail "lab: the remote lab's libvirtd does not answer on $REMOTE_URI"
    [ "$(readlink "/proc/$REMOTE_DAEMON_PID/ns/net")" = \
      "$(readlink "$(_lab_ns_path "$dir" net)")" ] ||
        fail "lab: the remote libvirtd is not in the remote's network namespace"
    for d in images scratch lib; do
        if [ -n "$(ls -A "$dir/$d")" ] ||
           [ "$(_lab_enter "$dir" stat -f -c %T "$dir/$d")" != tmpfs ] ||
           [ "$(stat -f -c %T "$dir/$d")" = tmpfs ]; then
            fail "lab: the remote lab's $d are not on a tmpfs of its own"
        fi
    done

    t1=$(( ($(date +%s%N) - t0) / 10000000 ))
    printf 'lab: remote lab %s ready in %d.%02d s at %s (this side %s)\n' \
           "$dir" $(( t1 / 100 )) $(( t1 % 100 )) "$REMOTE_ADDR" "$REMOTE_HOST_ADDR" >&2
}

# lab_remote CMD [ARGS...]
#
# Run CMD with the current remote as the current lab (LAB, LAB_URI,
# LIBVIRT_DEFAULT_URI...), then give the current lab back.  Returns CMD's
# status (under set -e a failure ends the test, as without lab_remote).
lab_remote ()
{
    local _lr_lab="${LAB-}" _lr_lab_set="${LAB+1}" _lr_uri="${LAB_URI-}"
    local _lr_pid="${LAB_DAEMON_PID-}" _lr_def="${LIBVIRT_DEFAULT_URI-}"
    local _lr_def_set="${LIBVIRT_DEFAULT_URI+1}" _lr_rc
    [ -n "${REMOTE_LAB:-}" ] || fail "lab_remote: no remote lab (lab_remote_start)"
    lab_use "$REMOTE_LAB"
    "$@"
    _lr_rc=$?
    # A restarted libvirtd has a new PID.
    REMOTE_DAEMON_PID=$(cat "$REMOTE_LAB/daemon.pid")
    if [ -n "$_lr_lab_set" ]; then
        LAB="$_lr_lab" LAB_URI="$_lr_uri" LAB_DAEMON_PID="$_lr_pid"
    else
        unset LAB LAB_URI LAB_DAEMON_PID
    fi
    if [ -n "$_lr_def_set" ]; then
        LIBVIRT_DEFAULT_URI="$_lr_def"
    else
        unset LIBVIRT_DEFAULT_URI
    fi
    return "$_lr_rc"
}

# lab_remote_exec CMD [ARGS...]
#
# Run a program on the remote "host": in its mount and network namespaces.
lab_remote_exec ()
{
    [ -n "${REMOTE_LAB:-}" ] || fail "lab_remote_exec: no remote lab (lab_remote_start)"
    _lab_enter "$REMOTE_LAB" "$@"
}

# lab_remote_virsh ARGS...
#
# virsh on the current remote over TCP, bounded in time, quiet on success.
lab_remote_virsh ()
{
    timeout -k 5 "$LAB_VIRSH_TIMEOUT" virsh -q -c "$REMOTE_URI" "$@"
}

# lab_remote_nbd_uri EXPORT PORT [CLIENT-DIR]
#
# Print the NBD URI (TLS, certificates of CLIENT-DIR) of an export of the
# current remote.
lab_remote_nbd_uri ()
{
    printf 'nbds://%s:%s/%s?tls-certificates=%s\n' \
           "$REMOTE_ADDR" "$2" "$1" "${3:-$REMOTE_TLS_CLIENT_DIR}"
}

# lab_remote_net down|up
#
# Cut the current remote's network (its end of the veth pair goes down)
# or restore it.  This side keeps its route through the link (flagged
# linkdown), so no packet for the remote leaves by another way.
lab_remote_net ()
{
    local link peer
    case "${1:-}" in
        down | up) ;;
        *) fail "lab_remote_net: down or up, not '${1:-}'" ;;
    esac
    link=$(cat "$REMOTE_LAB/net-link")
    peer=vckpt-r${link#vckpt-h}
    lab_remote_exec ip link set dev "$peer" "$1" ||
        fail "lab_remote_net: cannot set $peer $1"
    [[ "$(ip -4 route get "$REMOTE_ADDR")" == *" dev $link "* ]] ||
        fail "lab_remote_net: $REMOTE_ADDR is not routed through $link"
}

# lab_remote_stop [DIR]
#
# Tear a remote lab down now (it also happens at exit).  Never fails.
lab_remote_stop ()
{
    lab_stop "${1:-$REMOTE_LAB}"
}
