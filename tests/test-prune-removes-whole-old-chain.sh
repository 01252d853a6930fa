#!/usr/bin/env bash
# Two chains; --keep-last 2 keeps the second chain whole and expires the
# first one whole: its directory goes, nothing is rewritten (no file
# written, the second chain's files unchanged), both kept points restore
# bit for bit and verify passes.
. "${srcdir:-.}/prune-functions.sh"
pf_setup 16M
pf_put 0x11 0 2M
pf_backup 0 --full
pf_put 0x12 2M 1M
pf_backup 1 --auto
pf_put 0x13 4M 1M
pf_backup 2 --full
pf_put 0x14 6M 1M
pf_backup 3 --auto
chain1=$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[0].chain')
chain2=$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[2].chain')
test "$chain1" != "$chain2"
(cd "$R/$dom/$chain2" && sha256sum ./*) > "$TMPD/chain2.sums"

expect_exit 0 pf_vckpt --json prune "$dom" --repo "$R" --keep-last 2
jq -e '.files == [] and .bytes == 0' "$out"
test ! -e "$R/$dom/$chain1" || fail "the expired chain's directory is left"
(cd "$R/$dom/$chain2" && sha256sum -c --quiet "$TMPD/chain2.sums") ||
    fail "the kept chain's files changed"
test "$(pf_ids)" = "$(cat "$TMPD/id2" "$TMPD/id3")"
pf_restore_ok 2
pf_restore_ok 3
expect_exit 0 pf_vckpt --json verify "$dom" --repo "$R"
jq -e '.findings | length == 0' "$out" || fail "verify found problems after the prune"
