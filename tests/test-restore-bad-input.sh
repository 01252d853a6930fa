#!/usr/bin/env bash
# Bad input to restore and list-backups: a clear message, the documented
# exit code, nothing written or replaced (an existing image is never
# overwritten).
. "${srcdir:-.}/backup-functions.sh"
bf_setup

mkdir "$TMPD/r0" "$TMPD/rl"
expect_exit 0 vckpt restore "$dom" --repo "$R" --at k0 --to "$TMPD/r0"
ls -la "$TMPD/r0" > "$TMPD/r0.before"
expect_exit 1 vckpt restore "$dom" --repo "$R" --at k0 --to "$TMPD/r0"
grep -q 'already exists: restore never replaces a file' "$err"
ls -la "$TMPD/r0" | diff - "$TMPD/r0.before"
qemu-img compare -q "$TMPD/m0-vda.qcow2" "$TMPD/r0/vda.qcow2"
expect_exit 3 vckpt restore "$dom" --repo "$R" --at nochk --to "$TMPD/rl"
expect_exit 3 vckpt restore "$dom" --repo "$R" --to "$TMPD/nodir"
expect_exit 3 vckpt restore "$dom" --repo "$R" --disk vdz --to "$TMPD/rl"
expect_exit 2 vckpt restore "$dom" --repo "$R"
expect_exit 2 vckpt restore "$dom" --repo "$R" --at k1 --latest --to "$TMPD/rl"
test -z "$(ls -A "$TMPD/rl")" || fail "refused restores left $(ls -A "$TMPD/rl")"
test ! -e "$TMPD/nodir"
expect_exit 3 vckpt list-backups 'no such domain' --repo "$R"
