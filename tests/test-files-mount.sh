#!/usr/bin/env bash
# 'files mount' shows a backup read-only through FUSE: a mount point that
# is not an existing empty directory (not empty, a symbolic link, missing)
# is refused (exit 2) before anything starts; the mount shows every file
# system as a top-level directory, its files byte for byte with their
# modes, times and links, refuses writes, and holds the repository's lock
# shared while it lasts; 'files umount' refuses while it is in use (exit
# 5), then unmounts it and returns once its
# process and appliance have ended: nothing is left running or mounted,
# the repository is unchanged.  A mount of the backup's copy in restic
# whose process is killed loses its appliance too, and 'files umount'
# still takes the dead mount and its private directory away.  Two
# appliance starts.
. "${srcdir:-.}/files-functions.sh"
set -e -x
requires fusermount -V
requires restic version
files_setup

src=$TMPD/src
mkdir -p "$src/tree/etc" "$src/tree/data/empty"
printf 'hello\n' > "$src/tree/etc/motd"
chmod 0640 "$src/tree/etc/motd"
head -c 5M /dev/urandom > "$src/tree/data/big"
printf 'odd\n' > "$src/tree/data/new"$'\n'"line"
ln -s ../etc/motd "$src/tree/data/link"
find "$src" -mindepth 1 -exec touch -h -d '2026-03-04 05:06:07' {} +
ext4_image "$TMPD/raw" 64M "$src"
put_raw vda "$TMPD/raw"
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name k0
sums() { find "$R" -type f -name '*.qcow2' -exec sha256sum {} + | sort; }
sums > "$TMPD/sums-before"

# Refused mount points, before any appliance.
mnt=$TMPD/mnt
mkdir -p "$mnt" "$TMPD/full"
: > "$TMPD/full/x"
ln -s "$mnt" "$TMPD/link"
expect_exit 2 vckpt files mount "$dom" --repo "$R" "$TMPD/full"
expect_exit 2 vckpt files mount "$dom" --repo "$R" "$TMPD/link"
expect_exit 2 vckpt files mount "$dom" --repo "$R" "$TMPD/none"
expect_exit 3 vckpt files umount "$mnt"

files_run 0 files mount "$dom" --repo "$R" "$mnt"
pid=$(sed -n 's/.*(process \([0-9]*\)).*/\1/p' "$out")
[ -n "$pid" ] || fail "no process in: $(cat "$out")"
unmount_left () { if grep -qF " $mnt " /proc/self/mounts; then fusermount -u -z "$mnt"; fi; }
cleanup_fn unmount_left
kill -0 "$pid" || fail "the mount's process $pid is not running"
grep -F " $mnt fuse.vckpt " /proc/self/mounts || fail "no mount at $mnt"
test "$(ls "$mnt")" = vda
same_tree "$src/tree" "$mnt/vda/tree" --owner
test "$(stat -c %a "$mnt/vda/tree/etc/motd")" = 640
if touch "$mnt/vda/tree/x" 2>/dev/null; then fail "a write went through"; fi
grep -F " $mnt fuse.vckpt ro," /proc/self/mounts || fail "not mounted read-only"
if cp "$src/tree/etc/motd" "$mnt/vda/tree/etc/motd" 2>/dev/null; then fail "a write went through"; fi
# The repository is held shared: no writer can lock it.
if flock -n -x "$R/$dom/lock" true; then fail "the mount does not hold the repository lock"; fi

# Ended: gone, or a zombie its new parent has not reaped yet.
gone () { local s; s=$(ps -o stat= -p "$1") || return 0; [[ $s == Z* ]]; }
qemu=$(pgrep -P "$pid" -f qemu-system) || fail "no appliance under $pid"
# In use (a working directory in it): busy, nothing changed.
(cd "$mnt/vda/tree" && exec sleep 600) &
busy=$!
end_busy () { kill "$busy" 2>/dev/null || true; }
cleanup_fn end_busy
files_run 5 files umount "$mnt"
assert_grep 'busy' "$err"
kill -0 "$pid"
grep -qF " $mnt fuse.vckpt " /proc/self/mounts
kill "$busy"
wait "$busy" || true
files_run 0 files umount "$mnt"
gone "$pid" || fail "the mount's process outlived files umount"
gone "$qemu" || fail "the appliance outlived files umount"
if grep -F " $mnt " /proc/self/mounts; then fail "still mounted"; fi
if ls "$TMPD" | grep -q '^vckpt-files-'; then fail "a private directory was left"; fi
flock -n -x "$R/$dom/lock" true
test -z "$(ls -A "$mnt")"
sums | diff "$TMPD/sums-before" -

# A mount of the copy in restic (staged in its private directory), its
# process killed: its appliance ends (libguestfs's recovery process),
# files umount takes the dead mount and the private directory away.
RR=$TMPD/restic
echo "a restic password for vckpt's tests" > "$TMPD/restic.pw"
chmod 0600 "$TMPD/restic.pw"
export RESTIC_CACHE_DIR=$TMPD/restic-cache
restic --repo "$RR" --password-file "$TMPD/restic.pw" init -q
expect_exit 0 vckpt copy "$dom" --repo "$R" --to "restic:$RR" --password-file "$TMPD/restic.pw"
files_run 0 --json files mount "$dom" --from "restic:$RR" --password-file "$TMPD/restic.pw" \
    --at k0 "$mnt"
pid=$(jq -r .pid "$out")
cmp "$src/tree/data/big" "$mnt/vda/tree/data/big"
qemu=$(pgrep -P "$pid" -f qemu-system) || fail "no appliance under $pid"
kill -KILL "$pid"
wait_for 30 "the end of the killed mount's appliance" gone "$qemu"
ls "$TMPD" | grep -q '^vckpt-files-' || fail "the killed mount left no private directory"
files_run 0 files umount "$mnt"
if grep -F " $mnt " /proc/self/mounts; then fail "still mounted"; fi
assert_grep 'removed .*/vckpt-files-.*, which a killed vckpt files left' "$err"
if ls "$TMPD" | grep -q '^vckpt-files-'; then fail "a private directory was left"; fi
sums | diff "$TMPD/sums-before" -
