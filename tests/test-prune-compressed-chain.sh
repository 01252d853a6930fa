#!/usr/bin/env bash
# A chain of zstd-compressed backups (backup --compress) pruned twice:
# first by --keep-daily 3 (points 0, 2 and 4 kept: 2 merged with 1 onto
# 0, 4 merged with 3 onto 2's new file), then --keep-last 1 (4 made
# standalone).  Every kept point restores bit for bit after each prune,
# every file written is zstd-compressed again (only compressed clusters,
# no copy left behind), and verify passes.
. "${srcdir:-.}/prune-functions.sh"
# Pull mode's sockets are in $VCKPT_LOCK_DIR-nbd, which the lab's QEMU
# must see: the lab's /run is its own, $TMPD is shared.
export VCKPT_LOCK_DIR=$TMPD/run
pf_setup 16M

pf_put 0x41 0 4M
pf_backup 0 --full --compress
pf_put 0x42 1M 2M
pf_backup 1 --auto --compress
pf_put 0x43 4M 1M
pf_backup 2 --auto --compress
pf_put 0x44 0 512K
pf_put 0x45 8M 1M
pf_backup 3 --auto --compress
pf_put 0x46 6M 1M
pf_backup 4 --auto --compress
pf_set_times "2026-11-01 03:00" "2026-11-02 03:00" "2026-11-02 04:00" \
             "2026-11-03 03:00" "2026-11-03 04:00"

# Each file of the repository: zstd, and every allocated cluster compressed.
all_compressed ()
{
    local f c
    for f in $(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[].disks[].file'); do
        qemu-img info --output=json "$R/$dom/$f" |
            jq -e '."format-specific".data."compression-type" == "zstd"' ||
            fail "$f is not zstd-compressed"
        c=$(qemu-img check --output=json "$R/$dom/$f")
        jq -e '."compressed-clusters" > 0 and ."compressed-clusters" == ."allocated-clusters"' \
            <<< "$c" || fail "$f holds clusters that are not compressed: $c"
    done
}
no_leftovers ()
{
    vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[].disks[].file' | sort > "$TMPD/listed"
    (cd "$R/$dom" && find . -name '*.qcow2' | sed 's|^\./||' | sort) > "$TMPD/present"
    diff "$TMPD/listed" "$TMPD/present" || fail "files the manifest does not list"
}
all_compressed

expect_exit 0 pf_vckpt --json prune "$dom" --repo "$R" --keep-daily 3
cp "$out" "$TMPD/prune1.json"
test "$(jq -r '[.backups[] | .kept] | join(" ")' "$out")" = "true false true false true"
# 2 and 4 merged (rebase, then compressed again): none is header-only.
test "$(jq -r '[.files[] | "\(.header_only) \(.compressed)"] | join(",")' "$out")" = \
     "false true,false true"
all_compressed
no_leftovers
# The new files record the guest data they hold: 2's 1 and 2 MiB of 1's,
# 4's 1 MiB and 3's 512 KiB and 1 MiB.
vckpt --json list-backups "$dom" --repo "$R" |
    jq -e '[.backups[].disks[0].guest_bytes] == [4194304, 3145728, 2621440]'
for n in 0 2 4; do pf_restore_ok $n; done
expect_exit 0 pf_vckpt --json verify "$dom" --repo "$R"
jq -e '.findings | length == 0' "$out" || fail "verify found problems after the prune"

expect_exit 0 pf_vckpt --json prune "$dom" --repo "$R" --keep-last 1
test "$(jq -r '.backups[-1].promoted' "$out")" = true
test "$(jq -r '[.files[] | "\(.header_only) \(.compressed) \(.backing)"] | join(",")' "$out")" = \
     "false true null"
all_compressed
no_leftovers
vckpt --json list-backups "$dom" --repo "$R" |
    jq -e '[.backups[].disks[0] | .guest_bytes, .ratio < 0.1] == [7340032, true]'
pf_restore_ok 4
expect_exit 0 pf_vckpt --json verify "$dom" --repo "$R"
jq -e '.findings | length == 0' "$out" || fail "verify found problems after the second prune"
