#!/usr/bin/env bash
# The README demo: on a private libvirtd (own mount namespace and socket,
# nothing system-wide touched) with a throwaway VM that has no OS, vckpt
# takes a checkpoint and shows it, validates, makes a full and an
# incremental backup, verifies the repository and restores the latest
# backup, checking the restored bytes against what was written, copies the
# backups into a second repository and restores from it; then it
# backs up a real Linux guest and runs a restore drill (verify --boot) of
# that backup, and gets a file the guest wrote back out of it (files get,
# through a libguestfs appliance).
# Run from the top of a built tree: tests/demo.sh
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
export abs_top_builddir=${abs_top_builddir:-$top}
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$top/xml}
. "$top/tests/functions.sh"
test -x "$VCKPT" || fail "build first: $VCKPT is missing (./configure && make)"

step() { printf '\n=== %s\n' "$*"; }
show() { printf '$ vckpt'; printf ' %q' "$@"; printf '\n'; vckpt "$@"; }

step "Starting a private libvirtd and a throwaway VM (demo-vm, one 256 MiB disk)"
lab_start
lab_domain_define demo-vm --disk 256M
lab_domain_start demo-vm
repo=$TMPD/backups
qemu-img create -q -f qcow2 "$TMPD/model.qcow2" 256M
write() {   # the guest writes PATTERN at OFFSET; the model gets the same
    lab_write demo-vm vda "$1" "$2" "$3" >/dev/null
    qemu-io -f qcow2 -c "write -P $1 $2 $3" "$TMPD/model.qcow2" >/dev/null
    echo "(guest wrote $3 of byte $1 at offset $2)"
}
write 0xa1 0 4M

step "Checkpoints"
show checkpoint create demo-vm demo-1 --description "first checkpoint"
write 0xa2 16M 2M
show checkpoint list demo-vm
show checkpoint info demo-vm demo-1 --size

step "Preflight validation, then a full backup (which creates its own checkpoint)"
show validate demo-vm
show backup demo-vm --full --repo "$repo" --name nightly-1

step "More guest writes, then an incremental backup chosen by --auto"
write 0xa3 64M 8M
write 0xa4 1M 512K
show backup demo-vm --auto --repo "$repo" --name nightly-2
show list-backups demo-vm --repo "$repo"
show checkpoint list demo-vm --tree

step "Verify the repository and restore the latest backup"
show verify demo-vm --repo "$repo"
mkdir "$TMPD/restored"
show restore demo-vm --repo "$repo" --latest --to "$TMPD/restored"
qemu-img compare -q "$TMPD/model.qcow2" "$TMPD/restored/vda.qcow2" ||
    fail "the restored disk differs from what the guest wrote"
echo "restored vda.qcow2 is identical, byte for byte, to what the guest wrote"

step "A second copy: the backups copied into another repository, and restored from there"
show copy demo-vm --repo "$repo" --to "$TMPD/second-copy"
mkdir "$TMPD/from-copy"
show restore demo-vm --repo "$TMPD/second-copy" --latest --to "$TMPD/from-copy"
qemu-img compare -q "$TMPD/model.qcow2" "$TMPD/from-copy/vda.qcow2" ||
    fail "the disk restored from the copy differs from what the guest wrote"
echo "restored from the second copy: identical, byte for byte"

step "A restore drill: a real Linux guest is backed up, and its backup booted without copying it"
. "$top/tests/lab-guest.sh"
rc=0
( lab_guest_build ) >"$TMPD/guest-build.log" 2>&1 || rc=$?
if [ "$rc" -eq 0 ]; then
    lab_guest_build
    echo "(a Debian cloud kernel with busybox and the QEMU guest agent, built from"
    echo " Debian packages into tests/lab-cache; nothing is installed on the host)"
    lab_guest_define demo-linux
    lab_guest_start demo-linux
    # The guest writes a file on its ext4 data disk (vda, /data in it).
    lab_guest_exec demo-linux /bin/sh -c \
        'date > /data/report.txt && uname -a >> /data/report.txt && sync'
    sum=$(lab_guest_exec demo-linux /bin/sh -c 'sha256sum /data/report.txt' | cut -d' ' -f1)
    echo "(the guest wrote /data/report.txt, sha256 $sum)"
    show backup demo-linux --full --quiesce --repo "$repo"
    lab_guest_shutdown demo-linux
    show verify demo-linux --boot --repo "$repo" --timeout 300
    show list-backups demo-linux --repo "$repo"
    step "One file back from the guest's backup, read by a libguestfs appliance (never the host's kernel)"
    if "$VCKPT" files ls demo-linux --repo "$repo" 2>&1 | grep -q 'built without libguestfs'; then
        echo "(skipped: vckpt was built without libguestfs)"
    else
        show files ls demo-linux --repo "$repo" -l /vda
        mkdir "$TMPD/files"
        show files get demo-linux --repo "$repo" /vda/report.txt --to "$TMPD/files"
        [ "$(sha256sum < "$TMPD/files/report.txt" | cut -d' ' -f1)" = "$sum" ] ||
            fail "the file got back differs from what the guest wrote"
        cat "$TMPD/files/report.txt"
        echo "report.txt is what the guest wrote (sha256 $sum)"
    fi
elif [ "$rc" -eq 77 ]; then
    # lab_guest_build skips only when nothing is cached and apt-get
    # download fails.
    tail -3 "$TMPD/guest-build.log"
    echo "(skipped: the guest's packages cannot be downloaded here, e.g. no network on a first run)"
else
    tail -20 "$TMPD/guest-build.log" >&2
    fail "building the real guest failed (exit $rc): see the lines above"
fi

step "Done; tearing the lab down"
