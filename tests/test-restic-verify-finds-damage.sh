#!/usr/bin/env bash
# A damaged restic repository: a byte flipped in a pack, in data of the
# full backup's vda file, is found by verify --from (restic check, which
# reads no data, does not see it; restic dump fails on that file alone:
# copy-unreadable, exit 1; every other file is still checked), and restore
# --from of a point that reads it fails with restic's message and leaves
# nothing in --to.
. "${srcdir:-.}/restic-functions.sh"
bf_setup
rs_init
rs_copy
# The vda file of the full backup: its first data blob, found through
# the snapshot's trees and the restic repository's index, gets a byte
# flipped in its pack.
expect_exit 0 vckpt --json list-backups "$dom" --repo "$R"
file=$(jq -r '.backups[0].disks[] | select(.target == "vda") | .file' "$out")
snap=$(rs_snapshots)
tree=$(rs_restic cat snapshot "$snap" | jq -r .tree)
sub=$(rs_restic cat blob "$tree" |
      jq -r --arg n "${file%%/*}" '.nodes[] | select(.name == $n) | .subtree')
blob=$(rs_restic cat blob "$sub" |
       jq -r --arg n "${file#*/}" '.nodes[] | select(.name == $n) | .content[0]')
read -r pack off len < <(rs_restic list index | while read -r i; do rs_restic cat index "$i"; done |
    jq -r --arg b "$blob" '.packs[] | .id as $p | .blobs[] | select(.id == $b) |
                           "\($p) \(.offset) \(.length)"' | head -n 1)
[ -n "$pack" ] || fail "no pack holds blob $blob of $file"
pack=$RR/data/${pack:0:2}/$pack
chmod u+w "$pack"
printf '\xff' | dd of="$pack" bs=1 seek=$(( off + len / 2 )) conv=notrunc status=none
# The restic cache must not hide the damage.
rm -rf "$RESTIC_CACHE_DIR"

expect_exit 1 vckpt --json verify "$dom" --from "restic:$RR" --password-file "$RP"
jq -e '.errors >= 1 and .files == 10' "$out"
jq -e --arg f "$file" '[.findings[] | select(.code == "copy-unreadable" and .fix == "inspect"
                             and (.image | endswith($f))
                             and (.message | test("ciphertext verification failed")))] |
       length == 1' "$out"
assert_grep 'problems? found in the copy' "$err"

mkdir "$TMPD/to"
expect_exit 1 vckpt restore "$dom" --from "restic:$RR" --password-file "$RP" --at k1 \
    --to "$TMPD/to"
assert_grep 'restic restore failed .* ciphertext verification failed' "$err"
assert_eq "" "$(ls -A "$TMPD/to")" "what restore left in --to"
