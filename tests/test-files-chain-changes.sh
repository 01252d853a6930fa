#!/usr/bin/env bash
# File-level restore from every level of a chain: a whole-disk ext4 file
# system changes between a full backup and two incrementals (files change,
# appear and disappear; odd names, links, modes); 'files get' of the full
# and of the newest backup gives back exactly the trees of those points,
# byte for byte with modes and times, 'files ls -l' of the middle one shows
# its point with names escaped; the repository is unchanged and nothing is
# left behind.  Three appliance starts.
. "${srcdir:-.}/files-functions.sh"
set -e -x
files_setup

# Point 0.
s0=$TMPD/src0
mkdir -p "$s0/etc/conf.d" "$s0/home/ann/empty" "$s0/bin"
printf 'first\n' > "$s0/etc/motd"
printf 'keep me\n' > "$s0/etc/conf.d/keep"
printf 'old\n' > "$s0/etc/conf.d/changes"
printf 'gone soon\n' > "$s0/home/ann/goes"
head -c 3M /dev/urandom > "$s0/home/ann/big"
: > "$s0/home/ann/empty-file"
printf '#!/bin/sh\necho hi\n' > "$s0/bin/tool"
chmod 0755 "$s0/bin/tool"
chmod 0640 "$s0/etc/conf.d/keep"
printf 'newline\n' > "$s0/home/ann/new"$'\n'"line"
printf 'escape\n' > "$s0/home/ann/esc"$'\033'"[31mred"
ln -s ../etc/motd "$s0/bin/motd-link"
ln -s /etc/shadow "$s0/bin/absolute-link"
ln "$s0/etc/motd" "$s0/etc/motd-hard"
find "$s0" -mindepth 1 -exec touch -h -d '2026-01-02 03:04:05' {} +
ext4_image "$TMPD/raw0" 64M "$s0"
put_raw vda "$TMPD/raw0"
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name k0

# Point 1: a file changed (same size and a new time), one added, one gone.
s1=$TMPD/src1
cp -a "$s0" "$s1"
printf 'new\n' > "$s1/etc/conf.d/changes"
touch -d '2026-02-03 04:05:06' "$s1/etc/conf.d/changes"
printf 'appeared\n' > "$s1/home/ann/appeared"
rm "$s1/home/ann/goes"
ext4_image "$TMPD/raw1" 64M "$s1"
put_raw vda "$TMPD/raw1"
expect_exit 0 vckpt backup "$dom" --repo "$R" --incremental k0 --name k1

# Point 2: a tree gone, the big file rewritten, a deeper tree added.
s2=$TMPD/src2
cp -a "$s1" "$s2"
rm -r "$s2/home/ann/empty"
head -c 2M /dev/urandom > "$s2/home/ann/big"
mkdir -p "$s2/srv/a/b/c/d"
printf 'deep\n' > "$s2/srv/a/b/c/d/file"
ext4_image "$TMPD/raw2" 64M "$s2"
put_raw vda "$TMPD/raw2"
expect_exit 0 vckpt backup "$dom" --repo "$R" --incremental k1 --name k2
test "$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '[.backups[].level] | join(" ")')" = \
    "full incremental incremental"

sums() { find "$R" -type f -name '*.qcow2' -exec sha256sum {} + | sort; }
sums > "$TMPD/sums-before"

# The full backup: two trees and a file in one appliance.
mkdir "$TMPD/got0"
files_run 0 files get "$dom" --repo "$R" --at k0 /vda/etc /vda/home /vda/bin/tool --to "$TMPD/got0"
grep -q "of backup full-" "$out"
same_tree "$s0/etc" "$TMPD/got0/etc"
same_tree "$s0/home" "$TMPD/got0/home"
cmp "$s0/bin/tool" "$TMPD/got0/tool"
test "$(stat -c %a "$TMPD/got0/tool")" = 700
# A hard link stays one.
test "$(stat -c %i "$TMPD/got0/etc/motd")" = "$(stat -c %i "$TMPD/got0/etc/motd-hard")"

# The newest, with owners and whole modes, by JSON.
mkdir "$TMPD/got2"
files_run 0 --json files get "$dom" --repo "$R" /vda/etc /vda/home /vda/srv /vda/bin \
    --to "$TMPD/got2" --owner
jq -e '.listed == .written and .skipped == 0 and .files > 10' "$out"
for d in etc home srv bin; do same_tree "$s2/$d" "$TMPD/got2/$d" --owner; done
test "$(stat -c %a "$TMPD/got2/etc/conf.d/keep")" = 640

# The middle one listed: what changed shows, names are escaped.
files_run 0 files ls "$dom" --repo "$R" --at k1 -l /vda/home/ann
assert_grep ' appeared$' "$out"
assert_no_grep ' goes$' "$out"
assert_grep ' empty$' "$out"
grep -q -F ' new\nline' "$out"
grep -q -F ' esc\033[31mred' "$out"
if grep -q $'\033' "$out"; then fail "a control character was printed"; fi
test "$(grep -c . "$out")" = 6
assert_grep '^-rw-r--r-- .* 3145728 .* big$' "$out"

# The repository did not change, and nothing is left behind.
sums | diff "$TMPD/sums-before" -
expect_exit 0 vckpt verify "$dom" --repo "$R"
for d in got0 got2; do
    if ls -a "$TMPD/$d" | grep -q vckpt-files; then fail "a staging directory was left in $d"; fi
done
if ls "$TMPD" | grep -q '^vckpt-files-'; then fail "a private directory was left in $TMPD"; fi
