#!/usr/bin/env bash
# The policy file drives backup where the command line is silent: the
# domain section's repository, its excluded disk, and its level schedule
# (a new full chain every 3 backups, said as --auto's reason); --config
# names the file; --repo and --exclude on the command line win.
. "${srcdir:-.}/functions.sh"
set -e -x
requires_root
lab_start
dom=pol
lab_domain_define "$dom" --disk 16M --disk 8M
lab_domain_start "$dom"
cat > "$TMPD/policy.conf" <<CONF
repository = "$TMPD/unused"
domain "po*" {
  repository = "$TMPD/repo"
  exclude-disks = {"vdb"}
  full-every-backups = 3
}
CONF
# A file $VCKPT_CONFIG names that does not parse is never read: --config wins.
echo 'this is not = = valid' > "$TMPD/broken.conf"
export VCKPT_CONFIG=$TMPD/broken.conf
expect_exit 2 vckpt config check
assert_grep "broken.conf:1" "$err"
expect_exit 0 vckpt --config "$TMPD/policy.conf" config check

levels=
for n in 1 2 3 4; do
    lab_write "$dom" vda "0x4$n" "${n}M" 1M
    expect_exit 0 vckpt --config "$TMPD/policy.conf" --json backup "$dom" --auto
    levels="$levels $(jq -r .level "$out")"
done
test "$levels" = " full incremental incremental full" || fail "levels:$levels"
jq -r .auto_reason "$out" | grep -q 'the policy asks for a new full chain every 3 backups, and the chain has 3'
test ! -e "$TMPD/unused" || fail "the top level's repository was used"
vckpt --json list-backups "$dom" --repo "$TMPD/repo" > "$TMPD/list.json"
test "$(jq '.backups | length' "$TMPD/list.json")" -eq 4
test "$(jq -r '[.backups[].disks[].target] | unique | join(" ")' "$TMPD/list.json")" = vda ||
    fail "the excluded disk vdb was backed up"

# The command line wins: another repository, vdb not excluded.
expect_exit 0 vckpt --config "$TMPD/policy.conf" --json backup "$dom" --full \
    --repo "$TMPD/other" --exclude vda
test "$(vckpt --json list-backups "$dom" --repo "$TMPD/other" |
        jq -r '[.backups[].disks[].target] | join(" ")')" = vdb

# What was backed up restores.
lab_domain_stop "$dom"
mkdir "$TMPD/to"
expect_exit 0 vckpt restore "$dom" --repo "$TMPD/repo" --to "$TMPD/to"
lab_compare_images "$TMPD/to/vda.qcow2" "$(lab_disk_path "$dom" vda)" ||
    fail "the newest backup does not restore the disk"
