#!/usr/bin/env bash
# A repository of both kinds: a plain full backup, then zstd-compressed
# increments (backup --compress), pruned by --keep-daily 3 (point 2
# merged with 1 onto the plain full, 3 kept as it is) and then
# --keep-last 1 (3 made standalone).  Each file keeps its own kind: the
# plain full stays plain, the merged increment and the standalone point
# are compressed (the full's data in it too); every kept point restores
# bit for bit, verify passes.
. "${srcdir:-.}/prune-functions.sh"
# Pull mode's sockets are in $VCKPT_LOCK_DIR-nbd, which the lab's QEMU
# must see: the lab's /run is its own, $TMPD is shared.
export VCKPT_LOCK_DIR=$TMPD/run
pf_setup 16M

pf_put 0x61 0 4M
pf_backup 0 --full
pf_put 0x62 1M 2M
pf_backup 1 --auto --compress
pf_put 0x63 4M 1M
pf_backup 2 --auto --compress
pf_put 0x64 0 512K
pf_backup 3 --auto --compress
pf_set_times "2026-11-01 03:00" "2026-11-02 03:00" "2026-11-02 04:00" "2026-11-03 03:00"

# kind ID: "zstd N" (N compressed clusters) or "zlib 0" for the file of
# backup ID's vda.
kind ()
{
    local f
    f=$(vckpt --json list-backups "$dom" --repo "$R" |
        jq -r --arg id "$1" '.backups[] | select(.id == $id) | .disks[0].file')
    echo "$(qemu-img info --output=json "$R/$dom/$f" | jq -r '."format-specific".data."compression-type"')" \
         "$(qemu-img check --output=json "$R/$dom/$f" | jq -r '."compressed-clusters" // 0')"
}
id0=$(cat "$TMPD/id0") id2=$(cat "$TMPD/id2") id3=$(cat "$TMPD/id3")
test "$(kind "$id0")" = "zlib 0"

expect_exit 0 pf_vckpt --json prune "$dom" --repo "$R" --keep-daily 3
test "$(jq -r '[.backups[] | .kept] | join(" ")' "$out")" = "true false true true"
test "$(jq -r '[.files[] | "\(.backup) \(.header_only) \(.compressed)"] | join(",")' "$out")" = \
     "$id2 false true,$id3 true false"
test "$(kind "$id0")" = "zlib 0"
test "$(kind "$id2")" = "zstd 48"      # 1's 2 MiB and 2's 1 MiB
test "$(kind "$id3")" = "zstd 8"       # a copy under 2's new name
for n in 0 2 3; do pf_restore_ok $n; done
expect_exit 0 pf_vckpt --json verify "$dom" --repo "$R"
jq -e '.findings | length == 0' "$out" || fail "verify found problems after the prune"

expect_exit 0 pf_vckpt --json prune "$dom" --repo "$R" --keep-last 1
test "$(jq -r '[.files[] | "\(.backup) \(.compressed) \(.backing)"] | join(",")' "$out")" = \
     "$id3 true null"
test "$(kind "$id3")" = "zstd 80"      # 0's 4 MiB and 2's 1 MiB, all compressed now
pf_restore_ok 3
expect_exit 0 pf_vckpt --json verify "$dom" --repo "$R"
jq -e '.findings | length == 0' "$out" || fail "verify found problems after the second prune"
