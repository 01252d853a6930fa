#!/usr/bin/env bash
# restore --from killed (SIGKILL) once restic has filled the staging
# directory leaves it in --to; the next restore --from into the same --to
# removes it with a warning and restores bit for bit.  A stop signal at
# the same point removes it at once (status 6).
. "${srcdir:-.}/restic-functions.sh"
bf_setup
rs_init
rs_copy
mkdir "$TMPD/r3"
killed_at restic-staged restore "$dom" --from "restic:$RR" --password-file "$RP" \
    --at k3 --to "$TMPD/r3"
left=$(ls -A "$TMPD/r3")
[[ "$left" == .vckpt-restic-* ]] || fail "the killed restore left '$left', not its staging directory"
test -f "$TMPD/r3/$left/$dom/manifest.xml" || fail "the staging directory holds no manifest"
rmdir "$TMPD/r3" 2>/dev/null && fail "--to is empty"

expect_exit 0 vckpt restore "$dom" --from "restic:$RR" --password-file "$RP" --at k3 \
    --to "$TMPD/r3"
assert_grep "removed $TMPD/r3/$left, which a killed restore --from left" "$err"
for d in vda vdb; do
    qemu-img compare -q "$TMPD/m3-$d.qcow2" "$TMPD/r3/$d.qcow2" ||
        fail "restore after the sweep: $d differs"
done
assert_eq "vda.qcow2 vdb.qcow2" "$(ls -A "$TMPD/r3" | tr '\n' ' ' | sed 's/ $//')" "--to"

mkdir "$TMPD/r2"
hold_at restic-staged "$VCKPT" restore "$dom" --from "restic:$RR" --password-file "$RP" \
    --at k2 --to "$TMPD/r2"
release TERM
assert_eq 6 "$rc" "the exit status of restore --from stopped by SIGTERM"
assert_eq "" "$(ls -A "$TMPD/r2")" "what the stopped restore left"
