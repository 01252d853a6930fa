#!/usr/bin/env bash
# backup --all over three running domains, one of which fails (its
# directory in the repository is a regular file): the other two are backed
# up and restore bit for bit, the summary names the failure with its own
# exit status, the run exits 1, and the failed domain keeps no checkpoint.
. "${srcdir:-.}/fleet-functions.sh"
fleet_setup fa fb fc
mkdir -m 0711 "$R"      # QEMU's user reaches the backup targets
echo 'not a directory' > "$R/fb"

expect_exit 1 vckpt backup --all --auto --repo "$R"
assert_grep '^fa +ok +full .* 0$' "$out"
assert_grep '^fb +failed +- .* 1$' "$out"
assert_grep '^fc +ok +full .* 0$' "$out"
assert_grep '^3 domains: 2 backed up, 1 failed$' "$out"
# fb's own error, and the summary's, on stderr.
assert_grep '^vckpt: backup fb: .*fb' "$err"
assert_grep '^vckpt: backup fb: failed \(exit status 1\)' "$err"
assert_no_grep 'backup f[ac]:' "$err"

# The others are complete and restore bit for bit; fb has no checkpoint.
fleet_restore_check fa
fleet_restore_check fc
test -z "$(virsh -q checkpoint-list fb --name)" || fail "fb kept a checkpoint"
test "$(virsh -q checkpoint-list fa --name | wc -l)" -eq 1

# --json: one result per domain, each with its own exit status; the next
# run of the good ones is an incremental (--auto).
expect_exit 1 vckpt --json backup --all --auto --repo "$R"
test "$(jq -r '[.[] | "\(.unit)=\(.exit)"] | join(" ")' "$out")" = "fa=0 fb=1 fc=0"
test "$(jq -r '.[0].result.level, .[2].result.level' "$out" | tr '\n' ' ')" = \
     "incremental incremental "
jq -e '.[0].result.domain == "fa" and .[0].result.bytes >= 0' "$out"

# Once fb's directory is fixed, every domain succeeds: exit 0.
rm "$R/fb"
expect_exit 0 vckpt backup --all --auto --repo "$R"
assert_grep '^3 domains: 3 backed up, 0 failed$' "$out"
fleet_restore_check fb
