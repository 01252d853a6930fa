#!/usr/bin/env bash
# The transient domain of a restore drill shares nothing with the outside:
# the backed-up domain has a network interface and a serial console logged
# to a host file, the drill's domain (seen while it runs) has no interface
# and no graphics, its only serial port logs into the drill's private
# directory, and its disk is an overlay there whose backing file is the
# backup's file in the repository.  SIGINT then ends the drill: exit 6,
# nothing left.
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/drill-functions.sh"
set -e -x
lab_start

dom=d1
R=$TMPD/repo
dt=$TMPD/drilltmp
mkdir -m 0711 "$dt"      # QEMU's user reaches the drill's overlays
lab_domain_define "$dom" --disk 64M
cat >"$TMPD/dev.xml" <<XML
<interface type='user'><model type='virtio'/></interface>
XML
virsh -c "$LAB_URI" attach-device "$dom" "$TMPD/dev.xml" --config
cat >"$TMPD/ser.xml" <<XML
<serial type='file'><source path='$TMPD/d1-console.log'/><target port='0'/></serial>
XML
virsh -c "$LAB_URI" attach-device "$dom" "$TMPD/ser.xml" --config
lab_domain_start "$dom"
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name c1
grep -q "<interface type='user'>" "$R/$dom"/*/full-*.domain.xml

TMPDIR=$dt "$VCKPT" verify "$dom" --boot --repo "$R" --timeout 600 \
    --marker VCKPT-NEVER-PRINTED >"$TMPD/o" 2>"$TMPD/e" &
pid=$!
drill_name () { virsh -c "$LAB_URI" list --name | grep '^vckpt-drill-d1-'; }
wait_for 60 "the drill's domain running" drill_name
name=$(drill_name)
virsh -c "$LAB_URI" dumpxml "$name" >"$TMPD/drill.xml"
x () { xmllint --xpath "$1" "$TMPD/drill.xml"; }
test "$(x 'count(/domain/devices/interface)')" = 0 || fail "the drill has a network"
test "$(x 'count(/domain/devices/graphics)')" = 0
test "$(x 'count(/domain/devices/serial)')" = 1
priv=$(ls -d "$dt"/vckpt-drill-*)
test "$(stat -c %a "$priv")" = 711     # QEMU's user passes, no one lists
test "$(x 'string(/domain/devices/serial/source/@path)')" = "$priv/console.log"
test "$(x 'string(/domain/devices/disk/source/@file)')" = "$priv/vda.qcow2"
backing=$(x 'string(/domain/devices/disk/backingStore/source/@file)')
case "$backing" in
    "$R/$dom"/*/full-*.vda.qcow2) ;;
    *) fail "the overlay's backing file is '$backing'" ;;
esac
if grep -q "$TMPD/d1-console.log" "$TMPD/drill.xml"; then
    fail "the drill shares the original's console log"
fi
test "$(x 'string(/domain/uuid)')" != "$(virsh -c "$LAB_URI" domuuid "$dom")"

kill -INT $pid
rc=0; wait $pid || rc=$?
cat "$TMPD/e"
test $rc -eq 6 || fail "SIGINT: exit $rc, want 6"
drill_nothing_left "$dt"
