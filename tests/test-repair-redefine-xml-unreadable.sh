#!/usr/bin/env bash
# The repository's saved XML of a lost checkpoint is unreadable (a FIFO in
# its place): repair --repo does not take the bitmap for a stray one and
# remove it; it leaves it, says why, and exits 1.  With the file back, the
# checkpoint is redefined.
. "${srcdir:-.}/repair-functions.sh"
rp_setup
img=$(rp_img)

rp_put 0x11 0 1M
rp_backup --full --name c1
lab_domain_stop "$dom"
virsh checkpoint-delete "$dom" c1 --metadata
xml=$R/$dom/$(vckpt --json list-backups "$dom" --repo "$R" |
              jq -r '.backups[0] | "\(.chain)/\(.id).checkpoint.xml"')
test -f "$xml"
mv "$xml" "$TMPD/saved.xml"
mkfifo "$xml"

expect_exit 1 timeout 60 "$VCKPT" --json repair "$dom" --repo "$R"
grep -q "checkpoint.xml" "$err"
jq -e '.steps == []' "$out"
jq -e '.not_repaired[] | select(.code == "bitmap-orphan") | .message | test("cannot be read")' "$out"
test "$(lab_bitmaps "$img")" = c1

rm "$xml"
mv "$TMPD/saved.xml" "$xml"
expect_exit 0 vckpt --json repair "$dom" --repo "$R"
jq -e '[.steps[] | {action, checkpoint, state}] ==
       [{"action": "redefine-checkpoint", "checkpoint": "c1", "state": "done"}]' "$out"
lab_domain_start "$dom"
rp_put 0x22 1M 1M
rp_backup --auto --name c2
jq -e '.level == "incremental" and .since == "c1"' "$out"
rp_restore_check
