#!/usr/bin/env bash
# vckpt test suite: prove the remote lab (tests/lab-remote.sh) works,
# with virsh and libnbd's tools only.
#
# A second hypervisor beside the local lab: its libvirtd answers over TCP
# on its own address, its QEMU runs as libvirt-qemu in its namespaces, and
# this side sees none of its image files.  A full and an incremental
# pull-mode backup with TLS are read from this side with nbdinfo and
# nbdcopy and hold exactly the guest's data at the backup's point in
# time; clients without the right CA or certificate are refused.  Its
# network can be cut and given back, its libvirtd restarts in place, and
# its teardown leaves nothing.

set -e -x
. "${srcdir:-.}/functions.sh"

requires nbdinfo --version
requires nbdcopy --version

# A local lab too: both coexist, and lab_remote gives the local one back.
lab_start
local_lab=$LAB
lab_remote_start
assert_eq "$local_lab" "$LAB" "current lab after lab_remote_start"
assert_eq "$LAB_URI" "$LIBVIRT_DEFAULT_URI" "default URI after lab_remote_start"
assert_eq "qemu+tcp://$REMOTE_ADDR/system" "$REMOTE_URI" "remote URI"
[[ "$REMOTE_ADDR" =~ ^198\.1[89]\.[0-9]+\.[0-9]+$ ]] || fail "remote address '$REMOTE_ADDR'"
remote_net=$(readlink "/proc/$REMOTE_DAEMON_PID/ns/net")
remote_mnt=$(readlink "/proc/$REMOTE_DAEMON_PID/ns/mnt")
link=$(cat "$REMOTE_LAB/net-link")
[ "$remote_net" != "$(readlink /proc/$$/ns/net)" ] || fail "remote libvirtd in this network namespace"

dom="remote guest"
lab_remote lab_domain_define "$dom" --disk 64M
lab_remote lab_domain_start "$dom"
assert_eq "$local_lab" "$LAB" "current lab after lab_remote"
img=$(lab_remote lab_disk_path "$dom" vda)
assert_eq "$REMOTE_IMAGES/$dom-vda.qcow2" "$img" "remote image path"

# The backup side sees the domain over TCP, but not the local lab's view
# of it, and no file of it; the remote host sees its image.
assert_eq running "$(lab_remote_virsh domstate --domain "$dom")" "state over TCP"
if virsh -q list --all --name | grep -q -F -x "$dom"; then
    fail "the remote's domain shows in the local lab"
fi
if [ -e "$img" ]; then
    fail "this side sees the remote image $img"
fi
assert_eq "" "$(find "$REMOTE_IMAGES" "$REMOTE_SCRATCH_DIR" -mindepth 1)" \
    "remote files seen from here"
lab_remote_exec test -f "$img"

# QEMU runs there as libvirt-qemu, which owns the image while it runs.
qpid=$(cat "/proc/$REMOTE_DAEMON_PID/root/run/libvirt/qemu/$dom.pid")
quid=$(lab_remote lab_qemu_uid)
[ "$quid" -ne 0 ] || fail "remote QEMU runs as root"
assert_eq "$quid" "$(awk '/^Uid:/ { print $2 }' "/proc/$qpid/status")" "uid of QEMU"
assert_eq "$remote_net" "$(readlink "/proc/$qpid/ns/net")" "network namespace of QEMU"
assert_eq "$quid" "$(lab_remote_exec stat -c %u "$img")" "owner of the running image"

lab_remote lab_write "$dom" vda 0xab 1M 2M
lab_remote lab_write "$dom" vda 0xcd 10M 1M

# A full pull-mode backup over TCP with TLS, with checkpoint c1.
port=10809
# extents FILE TYPE: the [offset, length] runs of nbdinfo --map --json
# output FILE whose type is TYPE, adjacent ones merged.
extents ()
{
    jq -c --argjson t "$2" 'reduce (.[] | select(.type == $t) | [.offset, .length]) as $e
        ([]; if length > 0 and .[-1][0] + .[-1][1] == $e[0]
             then .[-1][1] += $e[1] else . + [$e] end)' "$1"
}
pull_xml ()
{
    {
        echo "<domainbackup mode='pull'>"
        [ -z "$1" ] || echo "  <incremental>$1</incremental>"
        echo "  <server transport='tcp' name='$REMOTE_ADDR' port='$port' tls='yes'/>"
        echo "  <disks><disk name='vda' backup='yes' type='file'>"
        echo "    <scratch file='$REMOTE_SCRATCH_DIR/vda.qcow2'/>"
        echo "  </disk></disks>"
        echo "</domainbackup>"
    } >"$TMPD/pull.xml"
    {
        echo "<domaincheckpoint><name>$2</name>"
        echo "  <disks><disk name='vda' checkpoint='bitmap'/></disks>"
        echo "</domaincheckpoint>"
    } >"$TMPD/checkpoint.xml"
}
pull_xml "" c1
lab_remote_virsh backup-begin --domain "$dom" --backupxml "$TMPD/pull.xml" \
    --checkpointxml "$TMPD/checkpoint.xml"
lab_remote_exec test -f "$REMOTE_SCRATCH_DIR/vda.qcow2"
# Written after the point in time: the export must not show it.
lab_remote lab_write "$dom" vda 0xef 1M 1M

uri=$(lab_remote_nbd_uri vda "$port")
nbdinfo --is tls "$uri"
nbdinfo --map --json "$uri" >"$TMPD/map.json"
cat "$TMPD/map.json" >&2
# base:allocation: the written ranges are data, the rest reads as zero.
assert_eq "[[1048576,2097152],[10485760,1048576]]" \
    "$(extents "$TMPD/map.json" 0)" \
    "data extents of the full export"
nbdcopy "$uri" "$TMPD/full.raw"
assert_eq $(( 64 << 20 )) "$(stat -c %s "$TMPD/full.raw")" "size of the copy"
lab_expect_pattern "$TMPD/full.raw" 1M 2M 0xab
lab_expect_pattern "$TMPD/full.raw" 10M 1M 0xcd
lab_expect_pattern "$TMPD/full.raw" 0 1M zero
lab_expect_pattern "$TMPD/full.raw" 3M 7M zero
lab_expect_pattern "$TMPD/full.raw" 11M 53M zero

# TLS is required and verified both ways.
if nbdinfo --size "$(lab_remote_nbd_uri vda "$port" "$REMOTE_TLS_WRONG_CA_DIR")" \
        2>"$TMPD/err"; then
    fail "a client trusting another CA connected"
fi
cat "$TMPD/err" >&2
assert_grep 'certificate verification' "$TMPD/err"
for dir in "$REMOTE_TLS_UNTRUSTED_CLIENT_DIR" "$REMOTE_TLS_NO_CERT_DIR"; do
    if nbdinfo --size "$(lab_remote_nbd_uri vda "$port" "$dir")"; then
        fail "the server accepted the client of $dir"
    fi
done
if nbdinfo --size "nbd://$REMOTE_ADDR:$port/vda"; then
    fail "the export answered without TLS"
fi
# A good client still gets in after those.
nbdinfo --can connect "$uri"

lab_remote_virsh domjobabort --domain "$dom"
assert_eq None "$(lab_remote_virsh domjobinfo --domain "$dom" | awk '/^Job type:/ { print $3 }')" \
    "job after the abort"
if lab_remote_exec test -e "$REMOTE_SCRATCH_DIR/vda.qcow2"; then
    fail "the scratch file outlived the job"
fi

# An incremental from c1: the dirty bitmap names exactly what changed.
lab_remote lab_write "$dom" vda 0x11 20M 1M
pull_xml c1 c2
lab_remote_virsh backup-begin --domain "$dom" --backupxml "$TMPD/pull.xml" \
    --checkpointxml "$TMPD/checkpoint.xml"
nbdinfo --map=qemu:dirty-bitmap:backup-vda --json "$uri" >"$TMPD/dirty.json"
cat "$TMPD/dirty.json" >&2
assert_eq "[[1048576,1048576],[20971520,1048576]]" \
    "$(extents "$TMPD/dirty.json" 1)" \
    "dirty extents of the incremental"
nbdcopy "$uri" "$TMPD/inc.raw"
lab_expect_pattern "$TMPD/inc.raw" 1M 1M 0xef
lab_expect_pattern "$TMPD/inc.raw" 2M 1M 0xab
lab_expect_pattern "$TMPD/inc.raw" 10M 1M 0xcd
lab_expect_pattern "$TMPD/inc.raw" 20M 1M 0x11
# Cut the network: the export is unreachable, and comes back.
lab_remote_net down
if timeout 1 nbdinfo --can connect "$uri"; then
    fail "connected to the remote with its network down"
fi
lab_remote_net up
wait_for 10 "a connection once the network is back" nbdinfo --can connect "$uri"
lab_remote_virsh domjobabort --domain "$dom"
assert_eq "c1 c2" "$(lab_remote_virsh checkpoint-list --domain "$dom" --name | sort | xargs)" \
    "checkpoints"

# The remote host's own tools see the same bytes as the backup side read
# (the test can read the remote image; once QEMU has closed it).
lab_remote lab_domain_stop "$dom"
lab_remote lab_compare_images "$img" "$TMPD/inc.raw"
assert_eq "c1 c2" "$(lab_remote lab_bitmaps "$img" | sort | xargs)" "bitmaps in the image"

# Its libvirtd restarts in its namespaces, listening on TCP again.
lab_remote lab_domain_start "$dom"
lab_remote lab_daemon_restart
assert_eq "$remote_net" "$(readlink "/proc/$REMOTE_DAEMON_PID/ns/net")" "namespace after restart"
assert_eq running "$(lab_remote_virsh domstate --domain "$dom")" "state over TCP after restart"

# Teardown leaves no daemon, QEMU, process in its namespaces, link,
# network namespace or route; the local lab is untouched.
daemon=$REMOTE_DAEMON_PID
lab_remote_stop
if _lab_alive "$daemon" || _lab_alive "$qpid"; then
    fail "remote libvirtd or QEMU survived the teardown"
fi
in_ns=
for p in /proc/[0-9]*; do
    case "$(readlink "$p/ns/net" 2>/dev/null) $(readlink "$p/ns/mnt" 2>/dev/null)" in
        "$remote_net "* | *" $remote_mnt") in_ns+=" ${p#/proc/}" ;;
    esac
done
assert_eq "" "$in_ns" "processes left in the remote's namespaces"
if ip link show dev "$link" 2>/dev/null; then
    fail "link $link outlived the teardown"
fi
if [[ "$(ip -4 route get "$REMOTE_ADDR")" == *" dev $link "* ]]; then
    fail "a route to $REMOTE_ADDR outlived the teardown"
fi
virsh -q list --all >/dev/null
