#!/usr/bin/env bash
# Benchmark (issue 11): time to a running guest, from a backup of the lab's
# real Linux guest (tests/lab-guest.sh) whose data disk holds FILL_MIB
# (default 400) MiB of data: `vckpt restore --instant` (overlays over the
# backup, define, start) against a full `vckpt restore --define` (verified
# copy of the disk) followed by `virsh start`.  "Running" is the guest
# agent answering guest-ping, polled every 0.1 s.  Each figure is the median
# of RUNS runs (default 3), interleaved; `restore --finish` of the instant
# domain (block copy while it runs, pivot) is timed too, for information.
set -e
. "$(dirname "$0")/bench-lib.sh"
. "$srcdir/lab-guest.sh"
requires_root
lab_guest_requires
FILL_MIB=${FILL_MIB:-400}

lab_start >/dev/null
lab_guest_build >/dev/null
dom=bench
lab_guest_define "$dom" --data-size 1G >/dev/null
lab_guest_start "$dom" >/dev/null
lab_guest_exec "$dom" /bin/sh -c \
    "dd if=/dev/urandom of=/data/fill bs=1M count=$FILL_MIB 2>/dev/null && sync" >/dev/null
R=$TMPD/repo
"$VCKPT" -q backup "$dom" --full --repo "$R" --name full >/dev/null
lab_guest_shutdown "$dom" >/dev/null
chain_bytes=$(du -cb "$R/$dom"/*/*.qcow2 | tail -1 | cut -f1)

ping_ok() {
    virsh -c "$LAB_URI" qemu-agent-command "$1" '{"execute":"guest-ping"}' >/dev/null 2>&1
}
wait_ping() {
    local i
    for (( i = 0; i < 3000; ++i )); do ping_ok "$1" && return 0; sleep 0.1; done
    echo "bench-instant: $1 never answered" >&2
    return 1
}
gone() {
    virsh -c "$LAB_URI" destroy "$1" >/dev/null 2>&1 || true
    virsh -c "$LAB_URI" undefine "$1" >/dev/null
}

for i in $(seq "$RUNS"); do
    rm -rf "$TMPD/i" "$TMPD/f" "$TMPD/c"; mkdir "$TMPD/i" "$TMPD/f" "$TMPD/c"; sync
    t0=$(now)
    "$VCKPT" -q restore "$dom" --repo "$R" --instant --define bi --to "$TMPD/i" >/dev/null
    wait_ping bi
    t1=$(now)
    "$VCKPT" -q restore --finish bi --repo "$R" --to "$TMPD/f" >/dev/null
    t2=$(now)
    gone bi
    sync
    t3=$(now)
    "$VCKPT" -q restore "$dom" --repo "$R" --define bc --to "$TMPD/c" >/dev/null
    virsh -c "$LAB_URI" start bc >/dev/null
    wait_ping bc
    t4=$(now)
    gone bc
    echo "$(echo "$t1 - $t0" | bc) $(echo "$t4 - $t3" | bc) $(echo "$t2 - $t1" | bc)"
done > "$TMPD/t"
t_inst=$(awk '{print $1}' "$TMPD/t" | median)
t_copy=$(awk '{print $2}' "$TMPD/t" | median)
t_fin=$(awk '{print $3}' "$TMPD/t" | median)
echo "time to a running guest (agent ping), 1 GiB data disk, $chain_bytes bytes in the backup (median of $RUNS, $(lab_guest_virttype)):"
echo "  vckpt restore --instant, then boot             ${t_inst} s"
echo "  vckpt restore --define (copy), start, boot     ${t_copy} s   $(ratio "$t_copy" "$t_inst")x instant"
echo "  vckpt restore --finish of the instant domain   ${t_fin} s   (while it runs)"
