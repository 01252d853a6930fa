#!/usr/bin/env bash
# DOMAIN|--all: the usage errors, found before any connection (exit 2):
# both or neither, options that name one domain's checkpoint or disks with
# --all, --jobs or --include-shut-off without --all, --jobs out of range.
. "${srcdir:-.}/functions.sh"
set -e -x
# No daemon behind this URI: a usage error must come before connecting.
export LIBVIRT_DEFAULT_URI="qemu:///system?socket=$TMPD/none"
expect_exit 2 vckpt backup --auto
assert_grep 'missing arguments; usage: vckpt backup DOMAIN\|--all \(--full' "$err"
expect_exit 2 vckpt backup web1 --all --auto
assert_grep 'a domain and --all cannot be used together' "$err"
expect_exit 2 vckpt backup --all
assert_grep 'a mode option is required' "$err"
for o in '--incremental c1' '--auto --name c2' '--auto --disk vda'; do
    # shellcheck disable=SC2086
    expect_exit 2 vckpt backup --all $o
    o=${o#--auto }
    assert_grep "^vckpt: backup --all: ${o%% *} names one domain's checkpoint or disks" "$err"
done
expect_exit 2 vckpt backup --all --auto --jobs 0
assert_grep '[-]-jobs must be between 1 and 64' "$err"
expect_exit 2 vckpt backup --all --auto --jobs x
expect_exit 2 vckpt backup web1 --auto --jobs 2
assert_grep '[-]-jobs goes with --all' "$err"
expect_exit 2 vckpt backup web1 --auto --include-shut-off
expect_exit 2 vckpt validate
expect_exit 2 vckpt validate --all --disk vda
expect_exit 2 vckpt validate web1 --jobs 2
expect_exit 2 vckpt verify
expect_exit 2 vckpt verify web1 --all
expect_exit 2 vckpt verify --all --jobs 65
# --all shows once in the usage line, as part of the arguments.
vckpt help backup > "$TMPD/help"
test "$(head -1 "$TMPD/help" | grep -o -- '--all' | wc -l)" -eq 1
assert_grep '^      --all  ' "$TMPD/help"
