#!/usr/bin/env bash
# verify --all checks every domain directory of the repository (also one
# whose domain libvirt no longer has), each in its own process: a damaged
# file in one is found and named, the others pass; exit 1, each domain's
# own status in the summary.  A missing repository is not found (3).
. "${srcdir:-.}/fleet-functions.sh"
fleet_setup va vb
expect_exit 0 vckpt -q backup --all --full --repo "$R"
# vc: backed up, then undefined: its backups stay verifiable.
lab_domain_define vc --disk 16M
lab_domain_start vc
vckpt -q backup vc --full --repo "$R"
lab_domain_undefine vc
# Something that is not a domain directory is left out.
mkdir "$R/.tmp.x" "$R/empty"

expect_exit 0 vckpt verify --all --repo "$R" --jobs 2
assert_grep '^va +ok +1 +1 +0 ' "$out"
assert_grep '^vc +ok +1 +1 +0 ' "$out"
assert_grep '^3 domains: 3 verified, 0 failed$' "$out"
assert_no_grep '^(empty|\.tmp)' "$out"

f=$(vckpt --json list-backups vb --repo "$R" | jq -r '.backups[0].disks[0].file')
printf '\xff' | dd of="$R/vb/$f" bs=1 seek=$((512 * 1024)) conv=notrunc status=none
expect_exit 1 vckpt --json verify --all --repo "$R"
test "$(jq -r '[.[] | "\(.unit)=\(.exit)"] | join(" ")' "$out")" = "va=0 vb=1 vc=0"
jq -e '.[1].result.findings | map(.code) | index("checksum-mismatch") != null' "$out"
expect_exit 1 vckpt verify --all --repo "$R"
assert_grep '^vb +failed +1 +1 +1 .* 1$' "$out"
assert_grep '^vckpt: verify vb: failed \(exit status 1\)' "$err"

expect_exit 3 vckpt verify --all --repo "$TMPD/no-such-repo"
expect_exit 2 vckpt verify va --all --repo "$R"
expect_exit 2 vckpt verify va --jobs 2 --repo "$R"
