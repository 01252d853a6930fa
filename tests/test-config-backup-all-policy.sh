#!/usr/bin/env bash
# backup --all passes --config on to each domain's run: each domain goes
# into the repository its section of the policy file names (or the top
# level's).
. "${srcdir:-.}/functions.sh"
set -e -x
requires_root
lab_start
for d in alpha beta; do
    lab_domain_define "$d" --disk 8M
    lab_domain_start "$d"
    lab_write "$d" vda 0x3c 0 1M
done
cat > "$TMPD/policy.conf" <<CONF
repository = "$TMPD/top"
jobs = 2
domain "al*" {
  repository = "$TMPD/alpha-repo"
}
CONF
expect_exit 0 vckpt --config "$TMPD/policy.conf" --json backup --all --auto
test "$(jq -r '[.[] | .exit] | unique | join(" ")' "$out")" = 0 || fail "a domain failed"
test "$(vckpt --json list-backups alpha --repo "$TMPD/alpha-repo" | jq '.backups | length')" -eq 1
test "$(vckpt --json list-backups beta --repo "$TMPD/top" | jq '.backups | length')" -eq 1
test ! -e "$TMPD/top/alpha" || fail "alpha went into the top level's repository"
