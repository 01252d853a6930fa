#!/usr/bin/env bash
# 'files get' of a tree checks the archive against the listing: an entry
# the appliance lists but its archive lacks, with no error anywhere (what
# garbage ext4 metadata did to copy_out, lab.md), fails the copy (exit 1)
# naming the missing entry, and nothing is written, not even the paths
# copied before it.  The appliance's own tar fails loudly on what it
# cannot read (libguestfs cancels tar_out when tar exits non-zero) and
# lists with the same readdir as find, so a real file system cannot be
# made to do it at will: the test fault files-tar-drop (lib/testhook.h)
# drops the archive's first regular file.  One appliance start.
. "${srcdir:-.}/files-functions.sh"
set -e -x
files_setup

src=$TMPD/src
mkdir -p "$src/tree/sub/empty"
printf 'dropped\n' > "$src/tree/sub/only"
ln -s sub/only "$src/tree/link"
printf 'other\n' > "$src/other"
ext4_image "$TMPD/raw" 64M "$src"
put_raw vda "$TMPD/raw"
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name k0

mkdir "$TMPD/got"
VCKPT_TEST_HOOK=files-tar-drop:fault files_run 1 files get "$dom" --repo "$R" /vda/other \
    /vda/tree --to "$TMPD/got"
assert_grep '^vckpt: files get fdom: /vda/tree: 1 of the 4 entries the appliance listed were not copied \(the first: sub/only\): the file system is damaged; nothing was written$' "$err"
test -z "$(ls -A "$TMPD/got")" || fail "something was written into --to"
if ls "$TMPD" | grep -q '^vckpt-files-'; then fail "a private directory was left"; fi
