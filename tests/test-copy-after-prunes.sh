#!/usr/bin/env bash
# Prunes on either side between copies, with other rules on each side; the
# copy keeps every point it lists restorable, bit for bit:
#   - the copy keeps the newest point alone (prune --keep-last 1); a
#     differential on the source's full, which the copy no longer holds,
#     goes over as a standalone full (promoted, qemu-img convert of its
#     chain); the incremental on it is stacked on that full's new file
#     (its backing name changed, the rest byte for byte);
#   - the source prunes (its files rewritten): the next incremental stacks
#     on the copy's own file of the same point;
#   - the copy prunes again, the source goes on, then keeps only its newest
#     point: it goes over whole, the points it merged away stay away.
# Prune on the copy deletes no checkpoint of the domain: they are the
# source's.
. "${srcdir:-.}/copy-functions.sh"
bf_setup
chk () { virsh -q checkpoint-list "$dom" --name | sort | tr '\n' ' '; }

cf_copy
ids=($(cf_ids "$R"))
before=$(chk)
expect_exit 0 vckpt --json prune "$dom" --repo "$D" --keep-last 1
test "$(cf_ids)" = "${ids[4]}"
test "$(chk)" = "$before" || fail "prune of the copy deleted checkpoints: $before -> $(chk)"
grep -q '<copy/>' "$D/$dom/manifest.xml"

# A differential on k0, which the copy no longer holds: standalone there.
bf_put vda 0x16 16M 2M
bf_backup 5 --differential
bf_put vda 0x17 17M 1M
bf_put vdb 0x23 0 64K
bf_backup 6 --incremental k5
ids=($(cf_ids "$R"))
cf_copy
test "$(cf_action "${ids[5]}")" = promoted
test "$(jq -r --arg id "${ids[5]}" '.backups[] | select(.id == $id) | .missing_parent' "$out")" = "${ids[0]}"
test "$(cf_action "${ids[6]}")" = stacked
vckpt --json list-backups "$dom" --repo "$D" > "$TMPD/l.json"
test "$(jq -r '[.backups[].level] | join(" ")' "$TMPD/l.json")" = "full full incremental"
jq -e '.backups[1].disks | all(.file | test("-r1\\.vd[ab]\\.qcow2$"))' "$TMPD/l.json"
jq -e '.backups[2].disks | all(.backing | test("-r1\\.vd[ab]\\.qcow2$"))' "$TMPD/l.json"
cf_restores_ok
cf_verify_ok

# The source prunes: its k5 and k6 files are rewritten; k7 stacks on k6.
expect_exit 0 vckpt --json prune "$dom" --repo "$R" --keep-last 2
bf_put vda 0x18 30M 1M
bf_backup 7 --incremental k6
ids=($(cf_ids "$R"))
cf_copy
test "$(cf_action "${ids[2]}")" = stacked
test "$(jq -r '.copied' "$out")" = 1
cf_restores_ok
cf_verify_ok

# The copy prunes by its own rules; the source goes on.
before=$(chk)
expect_exit 0 vckpt --json prune "$dom" --repo "$D" --keep-last 2
test "$(chk)" = "$before" || fail "prune of the copy deleted checkpoints: $before -> $(chk)"
bf_put vda 0x19 40M 1M
bf_backup 8 --auto
cf_copy
test "$(jq -r '.copied' "$out")" = 1
cf_restores_ok
cf_verify_ok

# The source keeps its newest point alone: it goes over whole, and what it
# merged away (k9) stays away.
bf_put vdb 0x24 4M 1M
bf_backup 9 --auto
bf_put vda 0x1a 50M 1M
bf_backup 10 --auto
expect_exit 0 vckpt --json prune "$dom" --repo "$R" --keep-last 1
cf_copy
test "$(jq -r '.copied' "$out")" = 1
test "$(jq -r '.backups[0].action' "$out")" = copied
test "$(jq -r '[.backups[].id] | length' "$out")" = 1
vckpt --json list-backups "$dom" --repo "$D" | jq -r '.backups[].checkpoint' | tr '\n' ' ' > "$TMPD/chk"
test "$(cat "$TMPD/chk")" = "k6 k7 k8 k10 " || fail "the copy holds $(cat "$TMPD/chk")"
cf_restores_ok
cf_verify_ok
cf_restores_ok "$R"
cf_modes
