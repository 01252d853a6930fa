#!/usr/bin/env bash
# A chain of zstd-compressed backups (backup --compress) goes over as it is:
# each file byte for byte, still compressed.  A point whose parent the copy
# lacks (a differential on the full the copy pruned away) is written
# standalone from its chain, compressed again (zstd, the source file's
# cluster size); the incremental on it keeps its compressed clusters, its
# backing name changed.  Every point restores bit for bit from the copy.
BF_ARGS=--compress
. "${srcdir:-.}/copy-functions.sh"
bf_setup
zstd () { qemu-img info --output=json "$1" | jq -e '."format-specific".data."compression-type" == "zstd"' >/dev/null; }

cf_copy
for f in $(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[].disks[].file'); do
    cmp "$R/$dom/$f" "$D/$dom/$f" || fail "$f differs from the source's"
    zstd "$D/$dom/$f" || fail "$f is not zstd-compressed in the copy"
done
cf_restores_ok

expect_exit 0 vckpt prune "$dom" --repo "$D" --keep-last 1
bf_put vda 0x16 16M 2M
bf_backup 5 --differential
bf_put vda 0x17 17M 1M
bf_backup 6 --incremental k5
cf_copy
ids=($(cf_ids "$R"))
test "$(cf_action "${ids[5]}")" = promoted
test "$(cf_action "${ids[6]}")" = stacked
for f in $(vckpt --json list-backups "$dom" --repo "$D" | jq -r '.backups[].disks[].file'); do
    zstd "$D/$dom/$f" || fail "$f is not zstd-compressed in the copy"
done
# The promoted vda holds its 1 + 1 + 0.5 + 1 + 2 MiB of one-byte patterns
# compressed: far less than the data.
p=$(vckpt --json list-backups "$dom" --repo "$D" | jq -r '.backups[1].disks[] | select(.target == "vda") | .file')
test "$(stat -c %s "$D/$dom/$p")" -lt $((1024 * 1024)) || fail "$p is not compressed"
cf_restores_ok
cf_verify_ok
