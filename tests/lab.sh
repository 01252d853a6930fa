# vckpt test suite: a private libvirtd + QEMU "lab".
#
# Sourced by functions.sh (sourcing this file alone loads functions.sh
# first).  See ../../shared/lab.md for the facts this is built on.
#
# A lab is one libvirtd running as root in a private mount namespace in
# which /etc/libvirt, /var/lib/libvirt, /var/log/libvirt and
# /var/cache/libvirt are bind mounts of directories under $LAB, /run is a
# private tmpfs, and /etc/passwd and /etc/group are private copies that
# have the libvirt-qemu user.  Nothing outside $LAB is written: where one
# of those mount points is missing on the host, a throw-away overlay that
# lives only in the namespace provides it.  Domains are TCG guests with
# no OS, sitting in the BIOS; "guest writes" go through QEMU's own block
# layer with the HMP qemu-io command, so dirty bitmaps see them.
#
# A remote lab (lab_start --remote, made by lab_remote_start in
# lab-remote.sh, which documents it) is a lab that is also in its own
# network namespace, joined to this one by a veth pair: its libvirtd
# listens on TCP there, and its images, scratch files and
# /var/lib/libvirt are on tmpfs mounted only inside its mount namespace,
# invisible from here.  The lab_* functions below work on it too (they
# reach its files through nsenter); so do IMAGE arguments that name its
# files, while files of this side stay readable from there.
#
# API (every function fails the test loudly on an infrastructure error):
#   lab_start [--remote] [DIR]     start a lab (default DIR $TMPD/lab), set
#                                  LAB, LAB_URI, LIBVIRT_DEFAULT_URI,
#                                  LAB_DAEMON_PID; teardown is registered
#   lab_stop [DIR]                 tear a lab down now (also runs at exit)
#   lab_use DIR                    make an already started lab the current one
#   lab_daemon_kill [SIGNAL]       kill the lab's libvirtd (default KILL);
#                                  its guests keep running
#   lab_daemon_restart             (kill with TERM if it runs, then) start
#                                  libvirtd again in the lab's namespace:
#                                  /run/libvirt keeps the running domains'
#                                  state, so it finds its guests running
#   lab_domain_define NAME [--disk SIZE | --raw-disk SIZE | --memory MIB]...
#   lab_domain_start NAME
#   lab_domain_stop NAME           graceful: QEMU gets SIGTERM, writes bitmaps
#   lab_domain_kill NAME           SIGKILL of QEMU: bitmaps left "in-use"
#   lab_domain_undefine NAME       destroy, then undefine with checkpoint metadata
#   lab_domain_state NAME          print "running", "shut off", ...
#   lab_wait_state NAME STATE [SECONDS]
#   lab_disk_path NAME TARGET      print the image file of disk TARGET (vda...)
#   lab_write NAME DISK PATTERN OFFSET LENGTH
#                                  guest write into a running domain; DISK is
#                                  a target (vdb) or an index N (virtio-diskN);
#                                  PATTERN a byte (0xab), "zero", or the
#                                  absolute path of a file QEMU's user can
#                                  read, whose bytes are written (repeated
#                                  if it is shorter than LENGTH)
#   lab_hotplug_disk NAME TARGET SIZE [ATTACH-DEVICE-OPTIONS...]
#   lab_resize_disk NAME TARGET NEWSIZE
#   lab_expect_pattern IMAGE OFFSET LENGTH PATTERN
#                                  returns 1 unless the guest-visible bytes of
#                                  IMAGE (any format, through its backing
#                                  chain) all equal PATTERN (or "zero")
#   lab_compare_images IMAGE1 IMAGE2   returns 1 unless guest-visible equal
#   lab_image_info IMAGE           qemu-img info JSON
#   lab_qemu_uid                   print the uid QEMU runs as in the lab
#                                  (libvirt-qemu's, or 0 with LAB_QEMU_USER=root)
#   lab_bitmaps IMAGE              names of the persistent bitmaps, one a line
#   lab_bitmap_flags IMAGE BITMAP  its flags, sorted, space-separated
#                                  ("auto", "auto in-use"); 1 if absent
# Sizes and offsets take qemu-img suffixes: 512, 64K, 1M, 2G (binary units).
# Read images (lab_expect_pattern...) only while no QEMU has them open:
# the file of a running domain can lag behind what the guest sees.
#
# Environment:
#   LAB_START_TIMEOUT  seconds to wait for libvirtd (default 60: probing
#                      QEMU without a cache takes ~7 s on an idle machine)
#   LAB_VIRSH_TIMEOUT  bound on each virsh call (default 60)
#   LAB_CAPS_CACHE     QEMU capabilities cache shared by labs (default
#                      $abs_top_builddir/tests/lab-cache; empty disables)
#   LAB_DEBUG          if non-empty, libvirtd logs at debug level

if [ "${BASH_SOURCE[0]}" = "$0" ] && [ "${1:-}" = --watchdog ]; then
    : # executed as the watchdog: the definitions below are enough
elif ! declare -F cleanup_fn >/dev/null; then
    # Sourced on its own: functions.sh sets up the traps and sources us.
    . "$(dirname "${BASH_SOURCE[0]}")/functions.sh"
    return
fi

_lab_sh=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")

: "${LAB_START_TIMEOUT:=60}"
: "${LAB_VIRSH_TIMEOUT:=60}"
: "${LAB_CAPS_CACHE=${abs_top_builddir:-$(dirname "$(dirname "$_lab_sh")")}/tests/lab-cache}"

# lab_requires
#
# Skip the test unless everything a lab needs is installed.
lab_requires ()
{
    requires_root
    local cmd
    for cmd in libvirtd virsh qemu-system-x86_64 qemu-img qemu-io; do
        requires "$cmd" --version
    done
    requires jq --version
    requires xmllint --version
    requires unshare --version
    requires setsid --version
    requires timeout --version
    requires numfmt --version
    requires test -d /usr/share/qemu
}

# _lab_virsh ARGS...
#
# virsh on the current lab, bounded in time, quiet on success.
_lab_virsh ()
{
    timeout -k 5 "$LAB_VIRSH_TIMEOUT" virsh -q -c "$LAB_URI" "$@"
}

# _lab_bytes SIZE
#
# Print SIZE (512, 64K, 1M, 2G...) in bytes.
_lab_bytes ()
{
    local n
    case "$1" in
        *[kK]) n=${1%?}K ;;
        *[mgtMGT]) n=${1^^} ;;
        *) n=$1 ;;
    esac
    numfmt --from=iec "$n" || fail "bad size '$1'"
}

# _lab_xml_escape STRING
#
# Print STRING quoted for XML text and attribute values.
_lab_xml_escape ()
{
    local s="$1"
    s=${s//'&'/'&amp;'}
    s=${s//'<'/'&lt;'}
    s=${s//'>'/'&gt;'}
    s=${s//\'/'&apos;'}
    s=${s//'"'/'&quot;'}
    printf '%s' "$s"
}

# _lab_starttime PID
#
# Print the start time of process PID (to tell it from a reused PID).
_lab_starttime ()
{
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }
    set -- $stat
    echo "${20}"
}

# _lab_alive PID
#
# True if PID is a live (not zombie) process.
_lab_alive ()
{
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

# _lab_cmdline PID
#
# Print the command line of PID with spaces between arguments.
_lab_cmdline ()
{
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true
}

# The file descriptors this shell holds on each lab's namespaces, keyed
# "DIR mnt" and "DIR net" (a remote lab's network namespace).
declare -gA _lab_fds=()

# _lab_ns_path DIR mnt|net
#
# Print a path to the lab's namespace for nsenter: the descriptor this
# shell holds, else the daemon's (a lab started by another shell).
_lab_ns_path ()
{
    local fd="${_lab_fds["$1 $2"]:-}"
    if [ -n "$fd" ]; then
        echo "/proc/$$/fd/$fd"
    else
        echo "/proc/$(cat "$1/daemon.pid")/ns/$2"
    fi
}

# _lab_enter DIR CMD [ARGS...]
#
# Run CMD in the lab's mount namespace (and a remote lab's network
# namespace), in the same working directory.
_lab_enter ()
{
    local dir="$1" ns=()
    shift
    ns=(--mount="$(_lab_ns_path "$dir" mnt)")
    [ -f "$dir/remote" ] && ns+=(--net="$(_lab_ns_path "$dir" net)")
    nsenter "${ns[@]}" --wd="$PWD" -- "$@"
}

# _lab_img CMD [ARGS...]
#
# Run CMD (qemu-img, qemu-io) on image files of the current lab: inside
# its namespaces if it is remote, since its images are visible there only.
_lab_img ()
{
    if [ -n "${LAB:-}" ] && [ -f "$LAB/remote" ]; then
        _lab_enter "$LAB" "$@"
    else
        "$@"
    fi
}

# _lab_ns_held NS
#
# True if this shell holds a file descriptor on mount namespace NS, so its
# inode number cannot be reused by another namespace meanwhile.
_lab_ns_held ()
{
    local fd
    for fd in /proc/"$BASHPID"/fd/*; do
        [ "$(readlink "$fd" 2>/dev/null)" = "$1" ] && return 0
    done
    return 1
}

# _lab_ns_pids NS
#
# Print the PIDs of the processes in mount namespace NS.
_lab_ns_pids ()
{
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$1" ] && echo "${p#/proc/}"
    done
    return 0
}

# _lab_kill DIR
#
# Hard part of the teardown, needing no libvirtd: stop the daemon, then
# SIGKILL everything left in the lab's namespace and any QEMU using the
# lab's files.  Bounded in time; safe to run twice.
_lab_kill ()
{
    local dir="$1" pid ns i p pids

    pid=$(cat "$dir/daemon.pid" 2>/dev/null) || pid=
    if [ -n "$pid" ] && _lab_alive "$pid" &&
       [[ "$(_lab_cmdline "$pid")" == *"$dir"* ]]; then
        kill -TERM "$pid" 2>/dev/null
        for (( i = 0; i < 100; ++i )); do
            _lab_alive "$pid" || break
            sleep 0.1
        done
        if _lab_alive "$pid"; then
            echo "lab: libvirtd $pid ignored SIGTERM, killing it" >&2
            kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
    fi

    ns=$(cat "$dir/mntns" 2>/dev/null) || ns=
    if [ -n "$ns" ] && [ "$ns" = "$(readlink /proc/$$/ns/mnt)" ]; then
        echo "lab: refusing to sweep the host's mount namespace" >&2
        ns=
    fi
    if [ -n "$ns" ] && ! _lab_ns_held "$ns"; then
        ns=
    fi
    for (( i = 0; i < 50; ++i )); do
        pids=$(
            [ -n "$ns" ] && _lab_ns_pids "$ns"
            for p in $(pgrep -f -- "$(sed 's/[.+]/\\&/g' <<<"$dir/")" || true); do
                case "$(cat "/proc/$p/comm" 2>/dev/null)" in
                    qemu*) echo "$p" ;;
                esac
            done
        )
        pids=$(for p in $pids; do _lab_alive "$p" && echo "$p"; done)
        [ -z "$pids" ] && break
        if [ "$i" -eq 0 ]; then
            echo "lab: killing leftover processes:" >&2
            for p in $pids; do
                echo "  $p $(_lab_cmdline "$p" | cut -c1-120)" >&2
            done
        fi
        kill -KILL $pids 2>/dev/null
        sleep 0.1
    done
    [ -z "$pids" ] || echo "lab: processes $pids would not die" >&2

    if [ -f "$dir/sockdir" ]; then
        rm -rf "$(cat "$dir/sockdir")"
    fi
    return 0
}

# _lab_watchdog TESTPID TESTSTART DIR [RMDIR]
#
# Runs detached: if the test dies without its teardown (SIGKILL), kill
# the lab and remove RMDIR.
_lab_watchdog ()
{
    local tpid="$1" tstart="$2" dir="$3" rmdir="${4:-}" nsfd netfd link=""
    exec {nsfd}<"/proc/$(cat "$dir/daemon.pid")/ns/mnt" || exit 1
    # Holding a remote lab's network namespace keeps its veth pair ours
    # to remove (children of a killed test may hold it longer); its name
    # is read now, as another lab's watchdog may remove RMDIR first.
    if [ -f "$dir/remote" ]; then
        exec {netfd}<"/proc/$(cat "$dir/daemon.pid")/ns/net" || exit 1
        link=$(cat "$dir/net-link") || exit 1
    fi
    while [ "$(_lab_starttime "$tpid")" = "$tstart" ]; do
        sleep 1
    done
    [ -e "$dir/stopped" ] && exit 0
    echo "lab: test $tpid died without teardown, killing the lab" >&2
    _lab_kill "$dir"
    if [ -n "$link" ] && ip link show dev "$link" >/dev/null 2>&1; then
        ip link del dev "$link"
    fi
    touch "$dir/stopped"
    [ -n "$rmdir" ] && rm -rf "$rmdir"
    exit 0
}

# _lab_write_config DIR SOCKDIR
#
# Write libvirtd.conf, qemu.conf, the /etc/libvirt copy, passwd, group and
# the namespace setup script of a lab.
_lab_write_config ()
{
    local dir="$1" sockdir="$2"

    if [ -d /etc/libvirt ]; then
        cp -a /etc/libvirt/. "$dir/etc/"
    fi
    # Files the drivers would act on at startup (networks, autostart...)
    # are not copied from a host that has them.
    rm -rf "$dir/etc/qemu" "$dir/etc/storage" "$dir/etc/nwfilter" \
           "$dir/etc/secrets" "$dir/etc/lxc"
    # As the distributions ship it: QEMU runs as its unprivileged user and
    # libvirt's DAC driver chowns each image to it while a domain uses it
    # (and gives the top image back, remember_owner).  No AppArmor or
    # SELinux on these machines (security_driver none leaves DAC on).  A
    # test that truly needs root QEMU sets LAB_QEMU_USER=root and says why.
    local quser="${LAB_QEMU_USER:-libvirt-qemu}" dyn=1
    [ "$quser" = root ] && dyn=0
    cat >"$dir/etc/qemu.conf" <<EOF
# vckpt test lab: QEMU as user $quser, unconfined, outside cgroups.
user = "$quser"
group = "$quser"
dynamic_ownership = $dyn
remember_owner = $dyn
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
EOF

    {
        echo "# vckpt test lab"
        echo "listen_tls = 0"
        echo "listen_tcp = 0"
        echo "unix_sock_dir = \"$sockdir\""
        echo "unix_sock_ro_perms = \"0700\""
        echo "unix_sock_rw_perms = \"0700\""
        echo "unix_sock_admin_perms = \"0700\""
        echo "auth_unix_ro = \"none\""
        echo "auth_unix_rw = \"none\""
        if [ -n "${LAB_DEBUG:-}" ]; then
            echo "log_filters = \"1:qemu 1:libvirt 3:object 3:json 3:event 3:util\""
            echo "log_outputs = \"1:stderr\""
        else
            echo "log_outputs = \"3:stderr\""
        fi
    } >"$dir/libvirtd.conf"

    # libvirtd resolves its built-in QEMU user before reading qemu.conf.
    cp /etc/passwd "$dir/passwd"
    cp /etc/group "$dir/group"
    if ! grep -q '^libvirt-qemu:' "$dir/passwd"; then
        echo 'libvirt-qemu:x:64055:64055:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin' \
             >>"$dir/passwd"
    fi
    if ! grep -q '^libvirt-qemu:' "$dir/group"; then
        echo 'libvirt-qemu:x:64055:' >>"$dir/group"
    fi
    if ! grep -q '^kvm:' "$dir/group"; then
        echo 'kvm:x:64056:' >>"$dir/group"
    fi
    if [ "$quser" != root ] && ! grep -q "^kvm:.*[:,]$quser\(,\|\$\)" "$dir/group"; then
        sed -i "/^kvm:/{s/\$/,$quser/; s/:,/:/}" "$dir/group"
    fi

    cat >"$dir/ns-init.sh" <<'EOF'
# vckpt test lab: runs in the lab's private mount namespace, then
# becomes libvirtd.  $1 is the lab directory.
set -e
lab="$1"
mount -t tmpfs -o size=64m,mode=0700 vckpt-lab "$lab/ns"
if [ -f "$lab/remote" ]; then
    # A remote lab: its images, scratch files and /var/lib/libvirt exist
    # only in here.  Its network comes from lab_start: wait for it.
    for d in images scratch lib; do
        mount -t tmpfs -o mode=0755 vckpt-remote "$lab/$d"
    done
    i=0
    while [ ! -f "$lab/net-ready" ]; do
        i=$((i + 1))
        if [ "$i" -gt 1200 ]; then
            echo "lab: no network after 60 s" >&2
            exit 1
        fi
        sleep 0.05
    done
    set -- --listen
else
    set --
fi
# Make directory $1 exist as a mount point, without touching the host:
# a missing one is created in an overlay over its parent.
mount_point () {
    if [ ! -d "$1" ]; then
        parent=$(dirname "$1")
        key=$(echo "$parent" | tr / _)
        mkdir -p "$lab/ns/$key/upper" "$lab/ns/$key/work"
        mount -t overlay vckpt-lab \
              -o "lowerdir=$parent,upperdir=$lab/ns/$key/upper,workdir=$lab/ns/$key/work" \
              "$parent"
        mkdir "$1"
    fi
}
# All of /run: /run/libvirt, and also /run/libvirtd.pid, the D-Bus and
# journald sockets, so the daemon cannot reach system services.
mount -t tmpfs -o size=64m,mode=0755 vckpt-lab /run
mount_point /etc/libvirt
mount --bind "$lab/etc" /etc/libvirt
for d in lib log cache; do
    mount_point "/var/$d/libvirt"
    mount --bind "$lab/$d" "/var/$d/libvirt"
done
# /dev/kvm as on a Debian host with libvirt-daemon-system: root:kvm 0660,
# the QEMU user in group kvm.  libvirt probes QEMU with CAP_DAC_OVERRIDE
# but checks /dev/kvm as the QEMU user: where those disagree (a 0600
# /dev/kvm), it probes QEMU again at every capabilities lookup, seconds
# each (a define, a start, a restart).
if [ -c /dev/kvm ] &&
   mknod -m 0660 "$lab/ns/kvm" c "0x$(stat -c %t /dev/kvm)" "0x$(stat -c %T /dev/kvm)"; then
    chgrp "$(awk -F: '$1 == "kvm" { print $3 }' "$lab/group")" "$lab/ns/kvm"
    mount --bind "$lab/ns/kvm" /dev/kvm
fi
mount --bind "$lab/passwd" /etc/passwd
mount --bind "$lab/group" /etc/group
exec libvirtd -f "$lab/libvirtd.conf" -p "$lab/libvirtd.pid" "$@"
EOF

    cat >"$dir/reaper.pl" <<'EOF'
# vckpt test lab: run ARGV as a child, being a child subreaper that
# reaps every orphan (QEMU) at once; exit with the child's status.
use strict;
use warnings;
use POSIX ();
my %prctl = (x86_64 => 157, aarch64 => 167, riscv64 => 167,
             s390x => 172, ppc64le => 171);
my $nr = $prctl{(POSIX::uname())[4]};
# prctl(PR_SET_CHILD_SUBREAPER = 36, 1)
if (!defined $nr || syscall($nr, 36, 1, 0, 0, 0) != 0) {
    warn "reaper: cannot become a child subreaper\n";
}
my $child = fork() // die "reaper: fork: $!\n";
if ($child == 0) {
    exec { $ARGV[0] } @ARGV or die "reaper: exec $ARGV[0]: $!\n";
}
my $status = 0;
while ((my $p = waitpid(-1, 0)) > 0) {
    $status = $? if $p == $child;
}
exit($status & 127 ? 128 + ($status & 127) : $status >> 8);
EOF
}

# _lab_caps_seed DIR
#
# Copy cached QEMU capabilities into a new lab (libvirt re-probes any
# that no longer match the binaries, kernel or libvirt).
_lab_caps_seed ()
{
    local f
    [ -n "$LAB_CAPS_CACHE" ] && [ -d "$LAB_CAPS_CACHE" ] || return 0
    mkdir -p "$1/cache/qemu/capabilities"
    for f in "$LAB_CAPS_CACHE"/*.xml; do
        [ -f "$f" ] && cp "$f" "$1/cache/qemu/capabilities/"
    done
    return 0
}

# _lab_caps_save DIR
#
# Save a lab's QEMU capabilities for the next labs (atomic per file).
_lab_caps_save ()
{
    local f dest
    [ -n "$LAB_CAPS_CACHE" ] || return 0
    mkdir -p "$LAB_CAPS_CACHE" 2>/dev/null || return 0
    for f in "$1"/cache/qemu/capabilities/*.xml; do
        [ -f "$f" ] || continue
        dest="$LAB_CAPS_CACHE/$(basename "$f")"
        cmp -s "$f" "$dest" && continue
        cp "$f" "$dest.tmp.$$" 2>/dev/null && mv -f "$dest.tmp.$$" "$dest"
    done
    return 0
}

# _lab_net_start DIR PID
#
# Connect the network namespace of a remote lab's first process PID to
# this one: a veth pair, vckpt-hN here and vckpt-rN there, with the two
# addresses of the Nth /30 of 198.18.0.0/15 (RFC 2544's benchmarking
# range).  N starts from this shell's PID; creating vckpt-hN claims it,
# so labs of tests running in parallel never share a link or an address.
# Makes libvirtd listen on TCP (no authentication) on the far address.
# Writes DIR/addr, DIR/host-addr, DIR/net-link and DIR/remote-uri.
_lab_net_start ()
{
    local dir="$1" pid="$2" net="/proc/$2/ns/net" i n err host peer
    local base pre o4 haddr raddr fd

    # Until unshare(1) has run, PID is in this namespace.
    for (( i = 0; i < 250; ++i )); do
        [ "$(readlink "$net" 2>/dev/null)" != "$(readlink /proc/$$/ns/net)" ] && break
        _lab_alive "$pid" || fail "lab: the remote lab's process $pid ended"
        sleep 0.02
    done
    [ "$(readlink "$net")" != "$(readlink /proc/$$/ns/net)" ] ||
        fail "lab: process $pid has no network namespace of its own"
    exec {fd}<"$net"
    _lab_fds["$dir net"]=$fd

    n=
    for (( i = 0; i < 64; ++i )); do
        n=$(( ($$ + i) % 32768 ))
        host=vckpt-h$n
        peer=vckpt-r$n
        if err=$(ip link add "$host" type veth peer name "$peer" netns "$pid" 2>&1); then
            echo "$host" >"$dir/net-link"
            break
        fi
        [[ "$err" == *"File exists"* ]] || fail "lab: cannot create a veth pair: $err"
        n=
    done
    [ -n "$n" ] || fail "lab: no free veth name vckpt-hN after 64 tries"

    base=$(( n * 4 ))
    pre=198.$(( 18 + base / 65536 )).$(( base / 256 % 256 ))
    o4=$(( base % 256 ))
    haddr=$pre.$(( o4 + 1 ))
    raddr=$pre.$(( o4 + 2 ))
    ip addr add "$haddr/30" dev "$host" && ip link set "$host" up ||
        fail "lab: cannot configure $host"
    nsenter --net="$net" sh -e -c '
        ip link set lo up
        ip addr add "$1/30" dev "$2"
        ip link set "$2" up' sh "$raddr" "$peer" ||
        fail "lab: cannot configure $peer in the remote lab"
    [[ "$(ip -4 route get "$raddr")" == *" dev $host "* ]] ||
        fail "lab: $raddr is not routed through $host (198.18.0.0/15 in use here?): $(ip -4 route get "$raddr")"

    echo "$raddr" >"$dir/addr"
    echo "$haddr" >"$dir/host-addr"
    echo "qemu+tcp://$raddr/system" >"$dir/remote-uri"
    # libvirt's configuration parser takes the first of repeated keys.
    sed -i '/^listen_tcp = /d' "$dir/libvirtd.conf"
    {
        echo "listen_tcp = 1"
        echo "auth_tcp = \"none\""
        echo "tcp_port = \"16509\""
        echo "listen_addr = \"$raddr\""
    } >>"$dir/libvirtd.conf"
}

# _lab_net_stop DIR
#
# Remove a remote lab's veth pair (both ends go together) and let go of
# its network namespace, which ends with its last process.
_lab_net_stop ()
{
    local dir="$1" link fd
    [ -f "$dir/remote" ] || return 0
    link=$(cat "$dir/net-link" 2>/dev/null) || link=
    if [ -n "$link" ] && ip link show dev "$link" >/dev/null 2>&1; then
        ip link del dev "$link" || echo "lab: cannot remove link $link" >&2
    fi
    fd="${_lab_fds["$dir net"]:-}"
    if [ -n "$fd" ]; then
        exec {fd}<&-
        unset "_lab_fds[$dir net]"
    fi
    return 0
}

# lab_start [--remote] [DIR]
#
# Start a private libvirtd and make it the current lab.  --remote: in its
# own network namespace too, listening on TCP, its files hidden (see
# lab_remote_start, which adds TLS for NBD and is the way to start one).
lab_start ()
{
    local remote='' dir sockdir pid ns t0 t1 tstart unshare=(unshare -m)

    if [ "${1:-}" = --remote ]; then
        remote=1
        shift
        unshare+=(-n)
    fi
    dir="${1:-$TMPD/lab}"
    lab_requires
    if [ -n "$remote" ]; then
        requires ip -V
        requires nsenter --version
    fi
    case "$dir" in
        /*) ;;
        *) dir="$PWD/$dir" ;;
    esac
    if [[ "$dir" == *[!A-Za-z0-9/._+-]* ]]; then
        fail "lab directory '$dir' has characters unsafe in URIs and configs (set TMPDIR)"
    fi
    [ ! -e "$dir" ] || fail "lab directory '$dir' exists"
    mkdir -p "$dir"/{etc,lib,log,cache,sock,images,ns,xml}
    if [ -n "$remote" ]; then
        mkdir "$dir/scratch"
        touch "$dir/remote"
    fi

    # A UNIX socket path has at most 107 bytes.
    sockdir="$dir/sock"
    if [ $(( ${#sockdir} + 20 )) -gt 107 ]; then
        sockdir=$(mktemp -d /tmp/vckpt-sock.XXXXXX)
        echo "$sockdir" >"$dir/sockdir"
    fi

    _lab_write_config "$dir" "$sockdir"
    _lab_caps_seed "$dir"
    echo "qemu:///system?socket=$sockdir/libvirt-sock" >"$dir/uri"

    # The reaper (when perl is there) is a child subreaper: QEMU, which
    # libvirt daemonizes, is reaped at once when it exits instead of
    # lingering as a zombie of PID 1 that libvirt waits for (some PID 1s
    # reap only every couple of seconds, which slows every domain stop).
    local reaper=()
    if command -v perl >/dev/null; then
        reaper=(perl "$dir/reaper.pl")
    fi
    t0=$(date +%s%N)
    setsid "${unshare[@]}" --propagation private "${reaper[@]}" \
           sh "$dir/ns-init.sh" "$dir" \
           </dev/null >>"$dir/libvirtd.log" 2>&1 &
    pid=$!
    # Until libvirtd has written its pid file, the teardown kills this.
    echo "$pid" >"$dir/daemon.pid"
    cleanup_fn lab_stop "$dir"
    if [ -n "$remote" ]; then
        # libvirtd starts once its network is there (ns-init.sh waits).
        _lab_net_start "$dir" "$pid"
        if declare -F _lab_remote_prepare >/dev/null; then
            _lab_remote_prepare "$dir"
        fi
        touch "$dir/net-ready"
    fi

    lab_use "$dir"
    while ! timeout -k 5 "$LAB_START_TIMEOUT" \
            virsh -q -c "$LAB_URI" version >/dev/null 2>&1; do
        if ! _lab_alive "$pid"; then
            cat "$dir/libvirtd.log" >&2
            fail "lab: libvirtd exited during startup"
        fi
        if [ $(( $(date +%s%N) - t0 )) -gt $(( LAB_START_TIMEOUT * 1000000000 )) ]; then
            tail -n 30 "$dir/libvirtd.log" >&2
            fail "lab: libvirtd not ready after $LAB_START_TIMEOUT s"
        fi
        sleep 0.05
    done
    t1=$(( ($(date +%s%N) - t0) / 10000000 ))

    pid=$(cat "$dir/libvirtd.pid") || fail "lab: libvirtd wrote no pid file"
    [[ "$(_lab_cmdline "$pid")" == "libvirtd "*"$dir"* ]] ||
        fail "lab: pid $pid in $dir/libvirtd.pid is not the lab's libvirtd"
    echo "$pid" >"$dir/daemon.pid"
    lab_use "$dir"
    # Remember the namespace, and hold it so its inode cannot be reused
    # by another lab's namespace before the teardown sweeps it.
    ns=$(readlink "/proc/$pid/ns/mnt")
    [ "$ns" != "$(readlink /proc/$$/ns/mnt)" ] ||
        fail "lab: libvirtd is not in a private mount namespace"
    echo "$ns" >"$dir/mntns"
    local fd
    exec {fd}<"/proc/$pid/ns/mnt"
    _lab_fds["$dir mnt"]=$fd

    # The watchdog kills the lab if this shell dies without its teardown.
    tstart=$(_lab_starttime $$)
    setsid bash "$_lab_sh" --watchdog "$$" "$tstart" "$dir" \
           "$([ -z "${KEEP_TMPD:-}" ] && [[ "$dir" == "$TMPD"/* ]] && echo "$TMPD")" \
           </dev/null >>"$dir/watchdog.log" 2>&1 &
    echo "$!" >"$dir/watchdog.pid"

    _lab_caps_save "$dir"
    printf 'lab: libvirtd %s ready in %d.%02d s, %s\n' \
           "$pid" $(( t1 / 100 )) $(( t1 % 100 )) "$LAB_URI" >&2
}

# lab_use DIR
#
# Make the lab in DIR the current one (LAB, LAB_URI...).
lab_use ()
{
    LAB="$1"
    LAB_URI=$(cat "$LAB/uri")
    LAB_DAEMON_PID=$(cat "$LAB/daemon.pid")
    LIBVIRT_DEFAULT_URI="$LAB_URI"
    export LAB LAB_URI LAB_DAEMON_PID LIBVIRT_DEFAULT_URI
}

# lab_daemon_kill [SIGNAL]
#
# Kill the current lab's libvirtd (as a crash or an OOM kill would) and
# wait until it is gone.  QEMU processes are not its children: they run on.
lab_daemon_kill ()
{
    local sig="${1:-KILL}" pid="$LAB_DAEMON_PID" i
    [[ "$(_lab_cmdline "$pid")" == "libvirtd "*"$LAB"* ]] ||
        fail "lab_daemon_kill: pid $pid is not the lab's libvirtd"
    kill -"$sig" "$pid" || fail "lab_daemon_kill: kill -$sig $pid failed"
    for (( i = 0; i < 300; ++i )); do
        _lab_alive "$pid" || return 0
        sleep 0.1
    done
    fail "lab_daemon_kill: libvirtd $pid still runs 30 s after SIG$sig"
}

# lab_daemon_restart
#
# Start the current lab's libvirtd again (stopping it first if it runs),
# in the lab's own mount namespace: /run there is the tmpfs the first
# daemon used, so the domains' state files survive, and the new daemon
# reconnects to the running QEMU processes as after a real restart.
lab_daemon_restart ()
{
    local old="$LAB_DAEMON_PID" pid t0 listen=()
    if _lab_alive "$old"; then
        lab_daemon_kill TERM
    fi
    [ -n "${_lab_fds["$LAB mnt"]:-}" ] ||
        fail "lab_daemon_restart: the lab was not started by this shell"
    [ -f "$LAB/remote" ] && listen=(--listen)
    # Under the reaper, as at lab_start: libvirt waits for each QEMU it
    # stops or probes to be reaped.
    local reaper=()
    if command -v perl >/dev/null; then
        reaper=(perl "$LAB/reaper.pl")
    fi
    t0=$(date +%s%N)
    _lab_enter "$LAB" \
            setsid "${reaper[@]}" libvirtd -f "$LAB/libvirtd.conf" -p "$LAB/libvirtd.pid" \
            "${listen[@]}" </dev/null >>"$LAB/libvirtd.log" 2>&1 &
    while ! timeout -k 5 "$LAB_START_TIMEOUT" \
            virsh -q -c "$LAB_URI" version >/dev/null 2>&1; do
        if [ $(( $(date +%s%N) - t0 )) -gt $(( LAB_START_TIMEOUT * 1000000000 )) ]; then
            tail -n 30 "$LAB/libvirtd.log" >&2
            fail "lab_daemon_restart: libvirtd not ready after $LAB_START_TIMEOUT s"
        fi
        sleep 0.05
    done
    pid=$(cat "$LAB/libvirtd.pid") || fail "lab_daemon_restart: no pid file"
    [ "$pid" != "$old" ] && [[ "$(_lab_cmdline "$pid")" == "libvirtd "*"$LAB"* ]] ||
        fail "lab_daemon_restart: pid $pid is not a new libvirtd of the lab"
    [ "$(readlink "/proc/$pid/ns/mnt")" = "$(cat "$LAB/mntns")" ] ||
        fail "lab_daemon_restart: libvirtd is not in the lab's namespace"
    echo "$pid" >"$LAB/daemon.pid"
    lab_use "$LAB"
    echo "lab: libvirtd restarted as $pid" >&2
}

# lab_stop [DIR]
#
# Tear a lab down: domains, daemon, leftover QEMU.  Runs at exit for
# every lab; can be called earlier.  Never fails.
lab_stop ()
{
    local dir="${1:-$LAB}" uri pid name f wpid
    # Called from a test too, not only from the exit hooks: a step that
    # fails (a wait for a process that is not our child) must not end it.
    local -
    set +e
    [ -f "$dir/daemon.pid" ] && [ ! -e "$dir/stopped" ] || return 0
    uri=$(cat "$dir/uri")
    pid=$(cat "$dir/daemon.pid")

    if [ "${cleanup_status:-0}" -ne 0 ] && [ "${cleanup_status:-0}" -ne 77 ]; then
        {
            echo "--- lab: tail of $dir/libvirtd.log"
            tail -n 40 "$dir/libvirtd.log"
            for f in "$dir"/log/qemu/*.log; do
                [ -f "$f" ] || continue
                echo "--- lab: tail of $f"
                tail -n 20 "$f"
            done
            echo "---"
        } >&2 2>/dev/null
    fi

    if _lab_alive "$pid"; then
        timeout -k 2 10 virsh -q -c "$uri" list --all --name 2>/dev/null |
        while IFS= read -r name; do
            [ -n "$name" ] || continue
            timeout -k 2 20 virsh -q -c "$uri" destroy --domain "$name" \
                    >/dev/null 2>&1
            timeout -k 2 10 virsh -q -c "$uri" undefine --domain "$name" \
                    --checkpoints-metadata --snapshots-metadata >/dev/null 2>&1
        done
    fi

    _lab_kill "$dir"
    _lab_net_stop "$dir"

    wpid=$(cat "$dir/watchdog.pid" 2>/dev/null) || wpid=
    if [ -n "$wpid" ] && _lab_alive "$wpid" &&
       [[ "$(_lab_cmdline "$wpid")" == *"--watchdog"*"$dir"* ]]; then
        kill -TERM "$wpid" 2>/dev/null
        wait "$wpid" 2>/dev/null
    fi
    touch "$dir/stopped"
    return 0
}

# lab_domain_define NAME [--disk SIZE | --raw-disk SIZE | --memory MIB]...
#
# Define a persistent TCG domain with no OS and virtio disks vda, vdb...
# (default: one 64M qcow2 disk), images in $LAB/images/NAME-vdX.{qcow2,raw}.
lab_domain_define ()
{
    local name="$1" memory=64 disks=() d fmt size target i=0 xml img
    local letters=abcdefghijklmnopqrstuvwxyz
    [ -n "$name" ] || fail "lab_domain_define: no domain name"
    shift
    while [ $# -gt 0 ]; do
        case "$1" in
            --disk) disks+=("qcow2:$2"); shift 2 ;;
            --raw-disk) disks+=("raw:$2"); shift 2 ;;
            --memory) memory="$2"; shift 2 ;;
            *) fail "lab_domain_define: unknown option '$1'" ;;
        esac
    done
    [ ${#disks[@]} -gt 0 ] || disks=(qcow2:64M)

    xml="$LAB/xml/$name.xml"
    {
        echo "<domain type='qemu'>"
        echo "  <name>$(_lab_xml_escape "$name")</name>"
        echo "  <memory unit='MiB'>$memory</memory>"
        echo "  <vcpu>1</vcpu>"
        echo "  <os><type arch='x86_64' machine='pc'>hvm</type></os>"
        # ACPI: i440fx PCI hot-plug (lab_hotplug_disk) needs it.
        echo "  <features><acpi/></features>"
        echo "  <devices>"
        for d in "${disks[@]}"; do
            fmt=${d%%:*}
            size=${d#*:}
            target=vd${letters:i:1}
            img="$LAB/images/$name-$target.$fmt"
            _lab_img qemu-img create -q -f "$fmt" "$img" "$(_lab_bytes "$size")" ||
                fail "lab_domain_define: cannot create $img"
            _lab_disk_xml "$img" "$fmt" "$target"
            i=$(( i + 1 ))
        done
        echo "    <controller type='usb' model='none'/>"
        echo "    <memballoon model='none'/>"
        echo "  </devices>"
        echo "</domain>"
    } >"$xml"
    _lab_virsh define --validate --file "$xml" >/dev/null ||
        fail "lab_domain_define: cannot define '$name'"
}

# _lab_disk_xml IMAGE FORMAT TARGET
#
# Print the <disk> element of a virtio disk.
_lab_disk_xml ()
{
    echo "    <disk type='file' device='disk'>"
    echo "      <driver name='qemu' type='$2'/>"
    echo "      <source file='$(_lab_xml_escape "$1")'/>"
    echo "      <target dev='$3' bus='virtio'/>"
    echo "    </disk>"
}

# lab_domain_state NAME
#
# Print the state of a domain ("running", "shut off"...).
lab_domain_state ()
{
    local s
    s=$(_lab_virsh domstate --domain "$1") ||
        fail "lab_domain_state: no domain '$1'"
    echo "${s%%$'\n'*}"
}

# lab_wait_state NAME STATE [SECONDS]
#
# Wait (default at most 30 s) until a domain is in STATE.
lab_wait_state ()
{
    local name="$1" want="$2" secs="${3:-30}" i s
    for (( i = 0; i < secs * 10; ++i )); do
        s=$(lab_domain_state "$name")
        [ "$s" = "$want" ] && return 0
        sleep 0.1
    done
    fail "domain '$name' is '$s', not '$want' after $secs s"
}

# lab_domain_start NAME
#
# Start a domain (it sits in the BIOS).
lab_domain_start ()
{
    _lab_virsh start --domain "$1" >/dev/null ||
        fail "lab_domain_start: cannot start '$1'"
    lab_wait_state "$1" running
}

# lab_domain_stop NAME
#
# Stop a domain gracefully: QEMU closes its images, writing bitmaps.
lab_domain_stop ()
{
    _lab_virsh destroy --domain "$1" --graceful >/dev/null ||
        fail "lab_domain_stop: cannot stop '$1'"
    lab_wait_state "$1" "shut off"
}

# lab_domain_kill NAME
#
# SIGKILL a domain's QEMU, as a host crash would end it.
lab_domain_kill ()
{
    local name="$1" pidfile pid
    pidfile="/proc/$LAB_DAEMON_PID/root/run/libvirt/qemu/$name.pid"
    pid=$(cat "$pidfile") || fail "lab_domain_kill: no pid file for '$name'"
    case "$(cat "/proc/$pid/comm" 2>/dev/null)" in
        qemu*) ;;
        *) fail "lab_domain_kill: process $pid of '$name' is not QEMU" ;;
    esac
    kill -KILL "$pid"
    lab_wait_state "$name" "shut off"
}

# lab_domain_undefine NAME
#
# Remove a domain (destroying it first), with its checkpoint metadata.
lab_domain_undefine ()
{
    if [ "$(lab_domain_state "$1")" != "shut off" ]; then
        _lab_virsh destroy --domain "$1" >/dev/null ||
            fail "lab_domain_undefine: cannot destroy '$1'"
    fi
    _lab_virsh undefine --domain "$1" --checkpoints-metadata \
               --snapshots-metadata >/dev/null ||
        fail "lab_domain_undefine: cannot undefine '$1'"
}

# _lab_check_target TARGET
#
# Fail unless TARGET looks like a disk target (vda).
_lab_check_target ()
{
    [[ "$1" =~ ^[a-z]+$ ]] || fail "bad disk target '$1'"
}

# _lab_disk_xpath NAME TARGET WHAT
#
# Print an attribute of disk TARGET in the domain's current XML.
_lab_disk_xpath ()
{
    local xml
    _lab_check_target "$2"
    xml=$(_lab_virsh dumpxml --domain "$1") ||
        fail "no domain '$1'"
    xmllint --xpath "string(/domain/devices/disk[target/@dev='$2']/$3)" - \
            <<<"$xml"
}

# lab_disk_path NAME TARGET
#
# Print the image file of a domain's disk.
lab_disk_path ()
{
    local path
    path=$(_lab_disk_xpath "$1" "$2" source/@file)
    [ -n "$path" ] || fail "domain '$1' has no disk '$2'"
    echo "$path"
}

# lab_write NAME DISK PATTERN OFFSET LENGTH
#
# Write guest data into a running domain's disk through QEMU's block
# layer, as the guest would (dirty bitmaps record it).
lab_write ()
{
    local name="$1" disk="$2" pattern="$3" off len alias cmd log size reply
    local i new want
    off=$(_lab_bytes "$4")
    len=$(_lab_bytes "$5")
    if [[ "$disk" =~ ^[0-9]+$ ]]; then
        alias="virtio-disk$disk"
    else
        alias=$(_lab_disk_xpath "$name" "$disk" alias/@name)
        [ -n "$alias" ] || fail "lab_write: '$name' has no running disk '$disk'"
    fi
    case "$pattern" in
        zero) cmd="write -z $off $len" ;;
        0x[0-9a-fA-F] | 0x[0-9a-fA-F][0-9a-fA-F] | [0-9] | [0-9][0-9] | [0-9][0-9][0-9])
            cmd="write -P $pattern $off $len" ;;
        /*) [[ "$pattern" =~ ^[A-Za-z0-9_./+-]+$ ]] ||
                fail "lab_write: a file name HMP cannot quote: '$pattern'"
            [ -f "$pattern" ] || fail "lab_write: no file '$pattern'"
            cmd="write -s $pattern $off $len" ;;
        *) fail "lab_write: bad pattern '$pattern'" ;;
    esac

    # qemu-io prints its result on QEMU's stdout: the domain log.
    log="$LAB/log/qemu/$name.log"
    size=$(stat -c %s "$log") || fail "lab_write: no log for '$name'"
    reply=$(_lab_virsh qemu-monitor-command --domain "$name" --hmp \
            "qemu-io -d /machine/peripheral/$alias/virtio-backend \"$cmd\"") ||
        fail "lab_write: monitor command failed on '$name'"
    [ -z "$reply" ] || fail "lab_write: $name $alias '$cmd': $reply"
    want="wrote $len/$len bytes at offset $off"
    for (( i = 0; i < 50; ++i )); do
        new=$(tail -c +$(( size + 1 )) "$log")
        if grep -q -F -e "$want" <<<"$new"; then
            return 0
        fi
        if grep -q -E -e 'failed|not found|rror' <<<"$new"; then
            break
        fi
        sleep 0.1
    done
    fail "lab_write: $name $alias '$cmd': ${new:-no result in $log}"
}

# lab_hotplug_disk NAME TARGET SIZE [ATTACH-DEVICE-OPTIONS...]
#
# Hot-add a new qcow2 disk to a running domain (--live; pass --config to
# make it persistent too).
lab_hotplug_disk ()
{
    local name="$1" target="$2" size="$3" img xml
    shift 3
    _lab_check_target "$target"
    img="$LAB/images/$name-$target.qcow2"
    xml="$LAB/xml/$name-$target.xml"
    _lab_img qemu-img create -q -f qcow2 "$img" "$(_lab_bytes "$size")" ||
        fail "lab_hotplug_disk: cannot create $img"
    _lab_disk_xml "$img" qcow2 "$target" >"$xml"
    _lab_virsh attach-device --domain "$name" --file "$xml" --live "$@" \
               >/dev/null ||
        fail "lab_hotplug_disk: cannot attach $target to '$name'"
    [ -n "$(_lab_disk_xpath "$name" "$target" alias/@name)" ] ||
        fail "lab_hotplug_disk: $target not live in '$name'"
}

# lab_resize_disk NAME TARGET NEWSIZE
#
# Grow a disk: block_resize in QEMU if the domain runs, else qemu-img.
lab_resize_disk ()
{
    local name="$1" target="$2" bytes img fmt
    bytes=$(_lab_bytes "$3")
    if [ "$(lab_domain_state "$name")" = running ]; then
        _lab_virsh blockresize --domain "$name" --path "$target" \
                   --size "${bytes}B" >/dev/null ||
            fail "lab_resize_disk: cannot resize $target of '$name'"
    else
        img=$(lab_disk_path "$name" "$target")
        fmt=$(_lab_disk_xpath "$name" "$target" driver/@type)
        _lab_img qemu-img resize -q -f "$fmt" "$img" "$bytes" ||
            fail "lab_resize_disk: cannot resize $img"
    fi
}

# lab_qemu_uid
#
# Print the uid QEMU runs as in the current lab (libvirt's DAC label).
lab_qemu_uid ()
{
    local label
    label=$(_lab_virsh capabilities |
            xmllint --xpath "string(//secmodel[model='dac']/baselabel[@type='qemu'])" -) ||
        fail "lab_qemu_uid: no capabilities"
    [[ "$label" =~ ^\+([0-9]+): ]] || fail "lab_qemu_uid: DAC label '$label'?"
    echo "${BASH_REMATCH[1]}"
}

# lab_image_info IMAGE
#
# Print qemu-img info of an image as JSON (works while it is in use).
lab_image_info ()
{
    _lab_img qemu-img info -U --output=json "$1" || fail "cannot read image '$1'"
}

# lab_bitmaps IMAGE
#
# Print the names of the persistent bitmaps in a qcow2 image.
lab_bitmaps ()
{
    local info
    info=$(lab_image_info "$1")
    jq -r '.["format-specific"].data.bitmaps // [] | .[].name' <<<"$info"
}

# lab_bitmap_flags IMAGE BITMAP
#
# Print the flags of a persistent bitmap, sorted and space-separated;
# return 1 if the image has no such bitmap.
lab_bitmap_flags ()
{
    local info
    info=$(lab_image_info "$1")
    jq -e -r --arg b "$2" \
       '.["format-specific"].data.bitmaps // [] | map(select(.name == $b))
        | if length == 0 then empty else .[0].flags | sort | join(" ") end' \
       <<<"$info" || {
        echo "lab_bitmap_flags: no bitmap '$2' in $1" >&2
        return 1
    }
}

# lab_expect_pattern IMAGE OFFSET LENGTH PATTERN
#
# Return 0 if every guest-visible byte of the range equals PATTERN (a
# byte like 0xab, or "zero"), 1 if not.
lab_expect_pattern ()
{
    local img="$1" off len pattern="$4" fmt o rc=0
    off=$(_lab_bytes "$2")
    len=$(_lab_bytes "$3")
    [ "$pattern" = zero ] && pattern=0
    fmt=$(lab_image_info "$img" | jq -r .format)
    o=$(_lab_img qemu-io -f "$fmt" -r -U -c "read -P $pattern $off $len" "$img" 2>&1) ||
        rc=$?
    if grep -q -F 'Pattern verification failed' <<<"$o"; then
        echo "lab_expect_pattern: $img: $o" >&2
        return 1
    fi
    if [ "$rc" -ne 0 ] || ! grep -q -F "read $len/$len bytes at offset $off" <<<"$o"; then
        fail "lab_expect_pattern: qemu-io failed on $img: $o"
    fi
}

# lab_compare_images IMAGE1 IMAGE2
#
# Return 0 if two images have the same guest-visible content, 1 if not.
lab_compare_images ()
{
    local rc=0
    _lab_img qemu-img compare -U "$1" "$2" >&2 || rc=$?
    case $rc in
        0) return 0 ;;
        1) return 1 ;;
        *) fail "lab_compare_images: qemu-img compare failed" ;;
    esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ] && [ "${1:-}" = --watchdog ]; then
    shift
    _lab_watchdog "$@"
else
    . "$(dirname "$_lab_sh")/lab-remote.sh"
fi
