#!/usr/bin/env bash
# An offline backup never guesses a backing file's format: a qcow2 overlay
# that names its raw base without a format would let a guest that wrote a
# qcow2 header (naming a host file as its backing file) into the raw disk
# make the backup copy that host file.  Refused, with the fix; nothing is
# made, and no host data reaches the repository.
. "${srcdir:-.}/functions.sh"
set -e -x
requires_root
requires python3 --version
lab_start
dom=probe
lab_domain_define "$dom" --disk 32M
img=$(lab_disk_path "$dom" vda)
d=$(dirname "$img")
# The "guest's" raw disk: a qcow2 header naming a host file as backing.
echo "TOP-SECRET-HOST-DATA-0123456789" > "$TMPD/secret"
truncate -s 1M "$TMPD/secret"
qemu-img create -q -f qcow2 -b "$TMPD/secret" -F raw "$TMPD/fake.qcow2" 1M
truncate -s 32M "$d/base.raw"
dd if="$TMPD/fake.qcow2" of="$d/base.raw" conv=notrunc status=none
# The domain's overlay on it, its backing format extension unrecognisable
# (as an image of an old qemu-img without -F).
rm -f "$img"
qemu-img create -q -f qcow2 -b base.raw -F raw "$img" 32M
python3 - "$img" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
i = b.find(b'\xe2\x79\x2a\xca')
assert i > 0
b[i:i + 4] = b'\x12\x34\x56\x78'
open(p, 'wb').write(b)
PY
test "$(qemu-img info --output=json "$img" | jq -r '."backing-filename-format" // "none"')" = none

expect_exit 1 vckpt backup "$dom" --repo "$TMPD/repo" --full
assert_grep "names its backing file .*base.raw without a format, and vckpt never guesses one" "$err"
assert_grep "qemu-img rebase -u -F FORMAT" "$err"
if grep -r -q TOP-SECRET "$TMPD/repo" 2>/dev/null; then
    fail "host data reached the repository"
fi
test -z "$(virsh -q checkpoint-list "$dom" --name)" || fail "a checkpoint was left"
