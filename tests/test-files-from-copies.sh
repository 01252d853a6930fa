#!/usr/bin/env bash
# File-level restore from second copies: a full backup and an incremental
# in which files change, appear and disappear, copied into a restic
# repository and into another vckpt repository.  'files get --from
# restic:' of the incremental stages the copy's manifest and chain in its
# private directory and gives back that point's tree byte for byte;
# 'files diff --copy restic:' of the two shows the changes; 'files ls
# --repo' of the copy directory (a repository) lists the full backup's
# tree.  Misused options are usage errors (exit 2) before anything
# starts; nothing is left behind.  Three appliance starts.
. "${srcdir:-.}/files-functions.sh"
set -e -x
requires restic version
files_setup

RR=$TMPD/restic
RP=$TMPD/restic.pw
echo "a restic password for vckpt's tests" > "$RP"
chmod 0600 "$RP"
export RESTIC_CACHE_DIR=$TMPD/restic-cache
restic --repo "$RR" --password-file "$RP" init -q

s0=$TMPD/src0
mkdir -p "$s0/tree/etc" "$s0/tree/data"
printf 'first\n' > "$s0/tree/etc/motd"
printf 'goes\n' > "$s0/tree/data/goes"
head -c 2M /dev/urandom > "$s0/tree/data/big"
find "$s0" -mindepth 1 -exec touch -h -d '2026-01-02 03:04:05' {} +
ext4_image "$TMPD/raw0" 64M "$s0"
put_raw vda "$TMPD/raw0"
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name k0

s1=$TMPD/src1
cp -a "$s0" "$s1"
head -c 3M /dev/urandom > "$s1/tree/data/big"
rm "$s1/tree/data/goes"
printf 'appeared\n' > "$s1/tree/etc/new"
touch -d '2026-02-03 04:05:06' "$s1/tree/data/big" "$s1/tree/etc/new" "$s1/tree/etc" \
    "$s1/tree/data"
ext4_image "$TMPD/raw1" 64M "$s1"
put_raw vda "$TMPD/raw1"
expect_exit 0 vckpt backup "$dom" --repo "$R" --incremental k0 --name k1
expect_exit 0 vckpt copy "$dom" --repo "$R" --to "restic:$RR" --password-file "$RP"
mkdir "$TMPD/copy"
expect_exit 0 vckpt copy "$dom" --repo "$R" --to "$TMPD/copy"

# Usage errors, nothing started.
mkdir "$TMPD/got"
expect_exit 2 vckpt files get "$dom" --from "$TMPD/copy" /vda/tree --to "$TMPD/got"
expect_exit 2 vckpt files get "$dom" --repo "$R" --from "restic:$RR" /vda/tree --to "$TMPD/got"
expect_exit 2 vckpt files ls "$dom" --repo "$R" --snapshot 1234abcd
expect_exit 2 vckpt files diff "$dom" --from k0 --to k1 --password-file "$RP"

# The incremental, from restic: its whole chain staged.
files_run 0 files get "$dom" --from "restic:$RR" --password-file "$RP" --at k1 /vda/tree \
    --to "$TMPD/got"
assert_grep "of backup inc-.* from snapshot [0-9a-f]+ of restic:" "$out"
same_tree "$s1/tree" "$TMPD/got/tree"

# What changed between the two, from restic.
files_run 0 files diff "$dom" --copy "restic:$RR" --password-file "$RP" --from k0 --to k1 \
    /vda/tree
printf '%s\n' 'M /vda/tree/data/big' 'D /vda/tree/data/goes' 'A /vda/tree/etc/new' |
    diff - "$out"

# The copy directory is a repository.
files_run 0 files ls "$dom" --repo "$TMPD/copy" --at k0 /vda/tree/data
printf '%s\n' big goes | diff - "$out"

if ls "$TMPD" | grep -q '^vckpt-files-'; then fail "a private directory was left in $TMPD"; fi
if ls -A "$TMPD/got" | grep -q vckpt; then fail "a staging directory was left"; fi
