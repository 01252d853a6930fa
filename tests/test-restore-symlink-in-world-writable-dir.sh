#!/usr/bin/env bash
# restore --to a world-writable (1777) directory in which symlinks named like
# the temporary files an older vckpt used (.vckpt-restore-PID-DISK.qcow2,
# planted for the next few thousand PIDs) point at a root-owned file: that
# file stays untouched, the image is a new regular file, nothing temporary is
# left.  Then a symlink under the final name: refused, the target untouched.
. "${srcdir:-.}/restore-functions.sh"
rf_setup

victim=$TMPD/victim
echo "root's precious file" > "$victim"
chmod 0644 "$victim"
cp "$victim" "$TMPD/victim.orig"
to=$TMPD/shared
mkdir -m 1777 "$to"
requires python3 --version
# One process plants them all, so the PIDs after it are the ones covered.
python3 -c '
import os, sys
last = int(open("/proc/sys/kernel/ns_last_pid").read())
for p in range(last + 1, last + 3000):
    os.symlink(sys.argv[1], "%s/.vckpt-restore-%d-vda.qcow2" % (sys.argv[2], p))
' "$victim" "$to"

expect_exit 0 rf_vckpt restore "$dom" --repo "$R" --to "$to"
cmp "$victim" "$TMPD/victim.orig" || fail "restore wrote through a planted symlink"
test -f "$to/vda.qcow2" && test ! -L "$to/vda.qcow2"
qemu-img compare -q "$TMPD/m2-vda.qcow2" "$to/vda.qcow2"
test "$(find "$to" -maxdepth 1 -name '.vckpt-restore*' ! -type l | wc -l)" -eq 0

# The final name is a symlink to the victim: refused, nothing replaced.
to2=$TMPD/shared2
mkdir -m 1777 "$to2"
ln -s "$victim" "$to2/vda.qcow2"
expect_exit 1 rf_vckpt restore "$dom" --repo "$R" --to "$to2"
grep -q 'already exists' "$err"
cmp "$victim" "$TMPD/victim.orig"
test -L "$to2/vda.qcow2"
test "$(ls -A "$to2")" = vda.qcow2
