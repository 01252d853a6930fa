#!/usr/bin/env bash
# A step that fails between two others: the bitmap of an inconsistent
# checkpoint cannot be removed from vdb (its image is on a read-only mount
# for this run) after it was removed from vda.  repair exits 1, keeps the
# checkpoint's metadata (else vdb's bitmap would be an orphan), and
# validate describes what is left; the next repair finishes, and the full
# backup it advertises restores bit-exact.
. "${srcdir:-.}/repair-functions.sh"
requires unshare --version
rp_setup --disk 32M --disk 16M
vda=$(lab_disk_path "$dom" vda)
vdb=$(lab_disk_path "$dom" vdb)

rp_put 0x11 0 1M
rp_backup --full --name c1
lab_domain_stop "$dom"
lab_domain_start "$dom"
lab_domain_kill "$dom"
rp_validate
assert_finding "$out" bitmap-inconsistent disk=vda checkpoint=c1
assert_finding "$out" bitmap-inconsistent disk=vdb checkpoint=c1

# vdb's image read-only, in a mount namespace of this run only.
rc=0
unshare -m --propagation private sh -c '
    mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" || exit 99
    shift
    exec "$@"' sh "$vdb" "$VCKPT" --json repair "$dom" --repo "$R" \
    > "$TMPD/r1.json" 2> "$TMPD/r1.err" || rc=$?
cat "$TMPD/r1.json" "$TMPD/r1.err" >&2
test "$rc" -eq 1 || fail "repair with a failing step exited $rc, expected 1"
jq -e '[.steps[] | {action, disk, state}] == [
         {"action": "remove-bitmap", "disk": "vda", "state": "done"},
         {"action": "remove-bitmap", "disk": "vdb", "state": "failed"},
         {"action": "delete-checkpoint-metadata", "disk": null, "state": "failed"}]' "$TMPD/r1.json"
jq -e '.steps[1].error | test("qemu-img bitmap --remove failed")' "$TMPD/r1.json"
jq -e '.steps[2].error | test("could not be removed")' "$TMPD/r1.json"
grep -q "repair rp: 2 repair steps failed" "$TMPD/r1.err"
test -z "$(lab_bitmaps "$vda")"
test "$(lab_bitmaps "$vdb")" = c1
test "$(virsh -q checkpoint-list "$dom" --name)" = c1

# validate describes the state left: c1 cannot serve an incremental.
rp_validate
assert_finding "$out" bitmap-missing disk=vda checkpoint=c1
assert_finding "$out" bitmap-inconsistent disk=vdb checkpoint=c1

# The next repair finishes.
expect_exit 0 vckpt --json repair "$dom" --repo "$R"
jq -e '[.steps[] | {action, disk, state}] == [
         {"action": "remove-bitmap", "disk": "vdb", "state": "done"},
         {"action": "delete-checkpoint-metadata", "disk": null, "state": "done"}]' "$out"
jq -e '.next_backup.full == true' "$out"
test -z "$(lab_bitmaps "$vdb")"
test -z "$(virsh -q checkpoint-list "$dom" --name)"
rp_validate
assert_no_finding "$out" bitmap-inconsistent
assert_no_finding "$out" bitmap-missing
jq -e '.errors == 0 and .warnings == 0' "$out"
lab_domain_start "$dom"
rp_backup --auto --name c2
jq -e '.level == "full"' "$out"
rp_restore_check
