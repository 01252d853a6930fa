#!/usr/bin/env bash
# prune takes the retention of the domain's section of the policy file
# ($VCKPT_CONFIG; a glob pattern section) and its repository when the
# command line gives none; any --keep-* on the command line replaces the
# file's rules; a domain no section matches gets the top level's rules.
. "${srcdir:-.}/prune-functions.sh"
pf_setup 16M
pf_put 0x71 0 2M
pf_backup 0 --full
for n in 1 2 3 4; do
    pf_put "0x7$n" "${n}M" 1M
    pf_backup "$n" --auto
done
cat > "$TMPD/vckpt.conf" <<CONF
repository = "$TMPD/elsewhere"
retention {
  keep-last = 1
}
domain "p*" {
  repository = "$R"
  retention {
    keep-last = 3
  }
}
CONF
export VCKPT_CONFIG=$TMPD/vckpt.conf
expect_exit 0 vckpt config check

# The file's section: keep-last 3, its repository.
expect_exit 0 pf_vckpt --json prune "$dom" --dry-run
test "$(jq '[.backups[] | select(.kept)] | length' "$out")" -eq 3
# The command line wins: keep-last 4.
expect_exit 0 pf_vckpt --json prune "$dom" --keep-last 4 --dry-run
test "$(jq '[.backups[] | select(.kept)] | length' "$out")" -eq 4
# And prunes for real with the file's rules.
expect_exit 0 pf_vckpt prune "$dom"
test "$(pf_ids)" = "$(cat "$TMPD/id2" "$TMPD/id3" "$TMPD/id4")"
for n in 2 3 4; do
    pf_restore_ok "$n"
done

# A domain the pattern does not match gets the top level's repository.
expect_exit 3 pf_vckpt prune other --dry-run
grep -q "$TMPD/elsewhere" "$err"
