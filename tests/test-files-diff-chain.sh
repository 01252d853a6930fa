#!/usr/bin/env bash
# 'files diff' between the full backup and the newest incremental of a
# chain in which files change, appear and disappear (a whole-disk ext4):
# exactly those changes are listed, one line each, in tree order, names
# escaped (a directory that went away and one that came are listed with
# everything under them; a link that became a directory is changed, its
# new entries added; directories' own times are not changes); a file
# rewritten with its size, mode and time kept is found only with
# --checksum (by JSON, for a PATH below the top).  Both runs exit 0; the
# repository is unchanged and nothing is left behind.  Two appliance
# starts.
. "${srcdir:-.}/files-functions.sh"
set -e -x
requires jq --version
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
printf 'escape\n' > "$s0/home/ann/esc"$'\033'"[31mred"
ln -s ../etc/motd "$s0/bin/motd-link"
ln "$s0/etc/motd" "$s0/etc/motd-hard"
find "$s0" -mindepth 1 -exec touch -h -d '2026-01-02 03:04:05' {} +
ext4_image "$TMPD/raw0" 64M "$s0"
put_raw vda "$TMPD/raw0"
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name k0

# Point 1: a file changed (same size, a new time), one added, one gone.
s1=$TMPD/src1
cp -a "$s0" "$s1"
printf 'new\n' > "$s1/etc/conf.d/changes"
touch -d '2026-02-03 04:05:06' "$s1/etc/conf.d/changes"
printf 'appeared\n' > "$s1/home/ann/appeared"
rm "$s1/home/ann/goes"
ext4_image "$TMPD/raw1" 64M "$s1"
put_raw vda "$TMPD/raw1"
expect_exit 0 vckpt backup "$dom" --repo "$R" --incremental k0 --name k1

# Point 2: a tree gone, one added, the big file rewritten, a link become
# a directory, a name with a newline added, and a file rewritten with its
# size, mode and time kept.
s2=$TMPD/src2
cp -a "$s1" "$s2"
rm -r "$s2/home/ann/empty"
head -c 2M /dev/urandom > "$s2/home/ann/big"
mkdir -p "$s2/srv/a/b"
printf 'deep\n' > "$s2/srv/a/b/file"
rm "$s2/bin/motd-link"
mkdir "$s2/bin/motd-link"
printf 'inside\n' > "$s2/bin/motd-link/inside"
printf 'nl\n' > "$s2/home/ann/added"$'\n'"nl"
printf 'KEEP ME\n' > "$s2/etc/conf.d/keep"
touch -d '2026-01-02 03:04:05' "$s2/etc/conf.d/keep"
ext4_image "$TMPD/raw2" 64M "$s2"
put_raw vda "$TMPD/raw2"
expect_exit 0 vckpt backup "$dom" --repo "$R" --incremental k1 --name k2

sums() { find "$R" -type f -name '*.qcow2' -exec sha256sum {} + | sort; }
sums > "$TMPD/sums-before"

# The whole backups, by file system.
files_run 0 files diff "$dom" --repo "$R" --from k0 --to k2
cat > "$TMPD/want" <<'EOF'
M /vda/bin/motd-link
A /vda/bin/motd-link/inside
M /vda/etc/conf.d/changes
A /vda/home/ann/added\nnl
A /vda/home/ann/appeared
M /vda/home/ann/big
D /vda/home/ann/empty
D /vda/home/ann/goes
A /vda/srv
A /vda/srv/a
A /vda/srv/a/b
A /vda/srv/a/b/file
EOF
diff -u "$TMPD/want" "$out" || fail "files diff listed other changes"

# Below a PATH, by JSON, with the contents compared.
files_run 0 --json files diff "$dom" --repo "$R" --from k0 --to k2 /vda/etc --checksum
jq -e '.from == "'"$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[0].id')"'"' "$out"
test "$(jq -c '[.changes[] | [.change, .path, .differs]]' "$out")" = \
    '[["M","/vda/etc/conf.d/changes",["mtime"]],["M","/vda/etc/conf.d/keep",["contents"]]]'

# The repository did not change, and nothing is left behind.
sums | diff "$TMPD/sums-before" -
expect_exit 0 vckpt verify "$dom" --repo "$R"
if ls "$TMPD" | grep -q '^vckpt-files-'; then fail "a private directory was left in $TMPD"; fi
