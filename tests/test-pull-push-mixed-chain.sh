#!/usr/bin/env bash
# Push and pull mixed in one chain: a full pushed, an increment pulled on
# it, one pushed on that, a compressed pulled one, a differential pulled;
# every point restores bit for bit, verify is clean, and a prune that
# merges the mixed (plain and compressed) files keeps the kept points
# exact.
. "${srcdir:-.}/backup-functions.sh"
lab_start
lab_domain_define "$dom" --disk 64M --disk 32M
lab_domain_start "$dom"
qemu-img create -q -f qcow2 "$TMPD/model-vda.qcow2" 64M
qemu-img create -q -f qcow2 "$TMPD/model-vdb.qcow2" 32M

bf_put vda 0x10 0 1M
bf_put vdb 0x20 0 1M
bf_backup 0 --full --push
bf_put vda 0x11 2M 1M
bf_backup 1 --incremental k0 --pull
bf_put vdb 0x21 4M 1M
bf_backup 2 --auto --push
bf_put vda 0x12 0 512K
bf_backup 3 --auto --compress
bf_put vda 0x13 8M 1M
bf_backup 4 --differential --pull
for n in 0 1 2 3 4; do
    want=pull
    case $n in 0|2) want=push ;; esac
    test "$(jq -r .job "$TMPD/k$n.json")" = $want
done
jq -e '.level == "differential" and .since == "k0"' "$TMPD/k4.json"

restore_all ()
{
    local n d
    for n in "$@"; do
        rm -rf "$TMPD/r$n"; mkdir "$TMPD/r$n"
        expect_exit 0 vckpt restore "$dom" --repo "$R" --at k$n --to "$TMPD/r$n"
        for d in vda vdb; do
            qemu-img compare -q "$TMPD/m$n-$d.qcow2" "$TMPD/r$n/$d.qcow2" ||
                fail "restore at k$n: $d differs from what was written"
        done
    done
}
restore_all 0 1 2 3 4
expect_exit 0 vckpt verify "$dom" --repo "$R"

# Keep the last two: the merge rewrites files that pushed, pulled and
# compressed backups wrote.
expect_exit 0 vckpt prune "$dom" --repo "$R" --keep-last 2
test "$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '[.backups[].checkpoint] | join(",")')" = k3,k4
restore_all 3 4
expect_exit 0 vckpt verify "$dom" --repo "$R"
