#!/usr/bin/env bash
# repair --dry-run prints the plan (each step: what, why with the finding
# code, on which disk, image and checkpoint) and changes nothing: the same
# checkpoints and bitmaps, with the same flags, before and after.  The
# real run then carries out exactly that plan.
. "${srcdir:-.}/repair-functions.sh"
rp_setup
img=$(rp_img)

# An orphan bitmap (o1) and a checkpoint whose bitmap a killed QEMU left
# in-use (c1).
expect_exit 0 vckpt checkpoint create "$dom" o1
rp_put 0x11 0 1M
rp_backup --full --name c1
lab_domain_stop "$dom"
virsh checkpoint-delete "$dom" o1 --metadata
lab_domain_start "$dom"
lab_domain_kill "$dom"
rp_validate
assert_finding "$out" bitmap-orphan bitmap=o1
assert_finding "$out" bitmap-inconsistent bitmap=c1 checkpoint=c1

rp_state "$TMPD/before"
expect_exit 0 vckpt --json repair "$dom" --repo "$R" --dry-run
cp "$out" "$TMPD/plan.json"
rp_state "$TMPD/after"
diff "$TMPD/before" "$TMPD/after"
jq -e '.dry_run == true and .done == 0' "$TMPD/plan.json"
jq -e '[.steps[].state] | unique == ["planned"]' "$TMPD/plan.json"
jq -e --arg img "$img" '[.steps[] | select(.action == "remove-bitmap" and .bitmap == "o1"
        and .code == "bitmap-orphan" and .disk == "vda" and .image == $img)] | length == 1' \
   "$TMPD/plan.json"
jq -e '[.steps[] | select(.action == "remove-bitmap" and .bitmap == "c1"
        and .code == "bitmap-inconsistent" and .checkpoint == "c1")] | length == 1' "$TMPD/plan.json"
jq -e '[.steps[] | select(.action == "delete-checkpoint-metadata" and .checkpoint == "c1")]
       | length == 1' "$TMPD/plan.json"
jq -e '.next_backup.full == true' "$TMPD/plan.json"
# The text form shows each step with its why.
expect_exit 0 vckpt repair "$dom" --repo "$R" --dry-run
grep -q '^planned  remove-bitmap  *vda   bitmap .o1. from ' "$out"
grep -q '^        why: bitmap-inconsistent: ' "$out"
grep -q '^Dry run: 3 steps planned for rp, nothing changed' "$out"
rp_state "$TMPD/after2"
diff "$TMPD/before" "$TMPD/after2"

# The real run does what the plan said.
expect_exit 0 vckpt --json repair "$dom" --repo "$R"
jq -e --slurpfile plan "$TMPD/plan.json" \
   '[.steps[] | {action, bitmap, checkpoint, image}] == [$plan[0].steps[] | {action, bitmap, checkpoint, image}]' "$out"
jq -e '[.steps[].state] | unique == ["done"]' "$out"
test -z "$(lab_bitmaps "$img")"
rp_validate
assert_no_finding "$out" bitmap-orphan
assert_no_finding "$out" bitmap-inconsistent
jq -e '.errors == 0 and .warnings == 0' "$out"
lab_domain_start "$dom"
rp_backup --auto --name c2
jq -e '.level == "full"' "$out"
rp_restore_check
