#!/usr/bin/env bash
# The domain was undefined (with its checkpoint metadata) and defined
# again, as after a move to another host on shared storage: the bitmaps
# are intact in the image but libvirt has no checkpoints.  repair --repo
# redefines them from the repository's saved XML, parents first; an
# incremental backup from the newest then works and restores bit-exact.
. "${srcdir:-.}/repair-functions.sh"
rp_setup
img=$(rp_img)

rp_put 0x11 0 1M
rp_backup --full --name c1
rp_put 0x22 1M 1M
rp_backup --incremental c1 --name c2
lab_domain_stop "$dom"                      # c1 and c2 saved in the image
virsh dumpxml --inactive "$dom" > "$TMPD/dom.xml"
virsh undefine "$dom" --checkpoints-metadata
virsh define "$TMPD/dom.xml"
test -z "$(virsh -q checkpoint-list "$dom" --name)"
test "$(lab_bitmaps "$img" | sort | tr '\n' ' ')" = "c1 c2 "

rp_validate
assert_finding "$out" bitmap-orphan disk=vda bitmap=c1 fix=redefine-checkpoint
assert_finding "$out" bitmap-orphan disk=vda bitmap=c2 fix=redefine-checkpoint

expect_exit 0 vckpt --json repair "$dom" --repo "$R"
jq -e '[.steps[] | .action] == ["redefine-checkpoint", "redefine-checkpoint"]' "$out"
jq -e '[.steps[] | select(.state == "done") | .checkpoint] | sort == ["c1", "c2"]' "$out"
jq -e '[.steps[].file | test("/[^/]*[.]checkpoint[.]xml$")] | all' "$out"
jq -e '.next_backup.full == false' "$out"
test "$(virsh -q checkpoint-list "$dom" --name | sort | tr '\n' ' ')" = "c1 c2 "
test "$(virsh checkpoint-parent "$dom" c2)" = c1
test "$(lab_bitmaps "$img" | sort | tr '\n' ' ')" = "c1 c2 "
rp_validate
assert_no_finding "$out" bitmap-orphan
jq -e '.errors == 0 and .checkpoint == "c2"' "$out"

# Nothing left to do.
expect_exit 0 vckpt --json repair "$dom" --repo "$R"
jq -e '.steps == []' "$out"

# The incremental from c2 is right: only what was written since.
lab_domain_start "$dom"
rp_put 0x33 2M 1M
rp_backup --incremental c2 --name c3
jq -e '.level == "incremental" and .since == "c2"' "$out"
rp_restore_check
