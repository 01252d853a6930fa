#!/usr/bin/env bash
# A damaged guest file system: ext4 whose directory lists names whose
# inodes hold garbage (the checksums catch it), beside a disk of pure
# garbage.  'files get' of the damaged tree fails (exit 1) naming what is
# missing, and writes nothing, instead of a silently partial copy; the
# listing shows the top level without the garbage disk, and the damaged
# directory's entries as far as they can be read, with no hang and no
# host file touched.  Two appliance starts.
. "${srcdir:-.}/files-functions.sh"
set -e -x
requires debugfs -V
files_setup --disk 64M --disk 16M

src=$TMPD/src
mkdir -p "$src/data" "$src/ok"
for i in $(seq 1 60); do printf 'file %d\n' "$i" > "$src/data/f$i"; done
printf 'fine\n' > "$src/ok/file"
ext4_image "$TMPD/raw" 64M "$src"
# Overwrite the inodes of a third of data/'s files with garbage.
for i in $(seq 1 3 60); do
    loc=$(debugfs -R "imap /data/f$i" "$TMPD/raw" 2>/dev/null |
          sed -n 's/.*located at block \([0-9]*\), offset 0x\([0-9a-f]*\).*/\1 \2/p')
    [ -n "$loc" ] || fail "no inode location for data/f$i"
    set -- $loc
    head -c 256 /dev/urandom |
        dd of="$TMPD/raw" bs=1 seek=$(( $1 * 4096 + 16#$2 )) conv=notrunc status=none
done
put_raw vda "$TMPD/raw"
head -c 16M /dev/urandom > "$TMPD/garbage"
put_raw vdb "$TMPD/garbage"
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name k0

mkdir "$TMPD/got"
files_run 1 files get "$dom" --repo "$R" /vda/ok /vda/data --to "$TMPD/got"
assert_grep '^vckpt: files get fdom: .*/vda/data.*nothing was written' "$err"
assert_no_grep '^libguestfs:' "$err"
test -z "$(ls -A "$TMPD/got")" || fail "something was written into --to"

files_run 0 files ls "$dom" --repo "$R" /
test "$(cat "$out")" = vda
