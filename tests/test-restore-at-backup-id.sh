#!/usr/bin/env bash
# Two backups whose checkpoints share a name (deleted and created again in
# between, as vckpt allowed before it refused a name the repository
# recorded; made here by renaming the second one in the manifest): restore
# --at NAME is a usage error listing both backup ids, and each backup is
# restored exactly when chosen by its id, which list-backups shows (text
# and --json).
. "${srcdir:-.}/restore-functions.sh"
lab_start
lab_domain_define "$dom" --disk 16M
lab_domain_start "$dom"
qemu-img create -q -f qcow2 "$TMPD/model.qcow2" 16M
put() {
    lab_write "$dom" vda "$1" "$2" "$3"
    qemu-io -f qcow2 -c "write -P $1 $2 $3" "$TMPD/model.qcow2" >/dev/null
}
put 0x11 0 1M
cp "$TMPD/model.qcow2" "$TMPD/m1.qcow2"
expect_exit 0 vckpt backup "$dom" --full --name same --repo "$R"
expect_exit 0 vckpt checkpoint delete "$dom" same
put 0x33 0 512K
cp "$TMPD/model.qcow2" "$TMPD/m2.qcow2"
expect_exit 0 vckpt backup "$dom" --full --name same2 --repo "$R"
sed -i 's|<checkpoint>same2</checkpoint>|<checkpoint>same</checkpoint>|' "$R/$dom/manifest.xml"
test "$(grep -c '<checkpoint>same</checkpoint>' "$R/$dom/manifest.xml")" -eq 2

id1=$(rf_id 0)
id2=$(rf_id 1)
# Two full backups, two different ids (jq prints "null" for a missing one).
if [[ ! "$id1" =~ ^full- || ! "$id2" =~ ^full- || "$id1" = "$id2" ]]; then
    fail "expected two different full backup ids, got '$id1' and '$id2'"
fi
expect_exit 0 vckpt list-backups "$dom" --repo "$R"
grep -q -F " $id1 " "$out"
grep -q -F " $id2 " "$out"

mkdir "$TMPD/to"
expect_exit 2 rf_vckpt restore "$dom" --repo "$R" --at same --to "$TMPD/to"
grep -q -F "$id1" "$err"
grep -q -F "$id2" "$err"
test -z "$(ls -A "$TMPD/to")"

for i in 1 2; do
    id=id$i
    mkdir "$TMPD/to$i"
    expect_exit 0 rf_vckpt --json restore "$dom" --repo "$R" --at "${!id}" --to "$TMPD/to$i"
    test "$(jq -r .backup "$out")" = "${!id}"
    qemu-img compare -q "$TMPD/m$i.qcow2" "$TMPD/to$i/vda.qcow2" ||
        fail "restore of backup ${!id} differs from what was written"
done
