#!/usr/bin/env bash
# Every kind of layout: a disk with partitions (ext4, xfs, an LVM volume
# group holding an ext4 root) made by libguestfs itself, and a whole-disk
# ext4; each file system is a top-level directory named after its
# partition or volume, a tree copied from each equals what was put there
# byte for byte, and with --os the guest's own tree (inspection: the root
# on the volume, /boot and /srv mounted where its fstab says) gives the
# same files; mounted (files mount), the file systems are its top-level
# directories.  Five appliance starts, one of them guestfish's.
. "${srcdir:-.}/files-functions.sh"
set -e -x
requires guestfish --version
files_setup --disk 400M --disk 32M

for n in boot srv root vdb; do
    t=$TMPD/t-$n
    mkdir -p "$t/sub/deeper"
    printf '%s\n' "$n" > "$t/name"
    head -c 300K /dev/urandom > "$t/sub/data"
    printf 'x\n' > "$t/sub/deeper/x"
    chmod 0750 "$t/sub"
    ln -s ../name "$t/sub/up"
    find "$t" -mindepth 1 -exec touch -h -d '2025-05-06 07:08:09' {} +
done
cat > "$TMPD/fstab" <<'EOF'
/dev/vg0/root / ext4 defaults 0 1
/dev/sda1 /boot ext4 defaults 0 2
/dev/sda2 /srv xfs defaults 0 2
EOF
printf 'NAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="12"\n' > "$TMPD/os-release"

# The partitioned disk, by libguestfs (TCG: the setup's speed is not the
# point, and KVM may hang here).
LIBGUESTFS_BACKEND_SETTINGS=force_tcg guestfish --format=qcow2 -a "$(lab_disk_path "$dom" vda)" <<EOF
run
part-init /dev/sda mbr
part-add /dev/sda p 2048 67583
part-add /dev/sda p 67584 681983
part-add /dev/sda p 681984 813055
mkfs ext4 /dev/sda1
mkfs xfs /dev/sda2
pvcreate /dev/sda3
vgcreate vg0 /dev/sda3
lvcreate root vg0 48
mkfs ext4 /dev/vg0/root
mount /dev/vg0/root /
mkdir-p /etc
mkdir-p /bin
mkdir-p /usr/bin
mkdir /boot
mkdir /srv
upload $TMPD/fstab /etc/fstab
upload $TMPD/os-release /etc/os-release
copy-in $TMPD/t-root /
ln-s srv/t-srv /data
mount /dev/sda1 /boot
copy-in $TMPD/t-boot /boot
mount /dev/sda2 /srv
copy-in $TMPD/t-srv /srv
umount-all
EOF
ext4_image "$TMPD/vdb.raw" 32M "$TMPD/t-vdb"
put_raw vdb "$TMPD/vdb.raw"
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name k0

files_run 0 files ls "$dom" --repo "$R" -l /
cat > "$TMPD/want" <<'EOF'
ext4       vda1
xfs        vda2
ext4       vdb
ext4       vg0-root
EOF
diff "$TMPD/want" "$out"

mkdir "$TMPD/got"
files_run 0 files get "$dom" --repo "$R" /vda1/t-boot /vda2/t-srv /vg0-root/t-root /vdb/sub \
    --to "$TMPD/got"
for n in boot srv root; do same_tree "$TMPD/t-$n" "$TMPD/got/t-$n"; done
same_tree "$TMPD/t-vdb/sub" "$TMPD/got/sub"

# The guest's own tree; a link on the way is followed inside the guest.
mkdir "$TMPD/os"
files_run 0 files get "$dom" --repo "$R" --os /etc/os-release /boot/t-boot /srv/t-srv/sub/up /data/name \
    --to "$TMPD/os" --owner
cmp "$TMPD/os-release" "$TMPD/os/os-release"
same_tree "$TMPD/t-boot" "$TMPD/os/t-boot" --owner
test "$(readlink "$TMPD/os/up")" = ../name
cmp "$TMPD/t-srv/name" "$TMPD/os/name"

# Mounted: every file system a top-level directory, as files ls names them.
requires fusermount -V
mkdir "$TMPD/mnt"
files_run 0 files mount "$dom" --repo "$R" "$TMPD/mnt"
unmount_left () { if grep -qF " $TMPD/mnt " /proc/self/mounts; then fusermount -u -z "$TMPD/mnt"; fi; }
cleanup_fn unmount_left
test "$(ls "$TMPD/mnt" | tr '\n' ' ')" = "vda1 vda2 vdb vg0-root "
for n in boot:vda1 srv:vda2 root:vg0-root; do
    same_tree "$TMPD/t-${n%%:*}" "$TMPD/mnt/${n#*:}/t-${n%%:*}" --owner
done
same_tree "$TMPD/t-vdb/sub" "$TMPD/mnt/vdb/sub" --owner
files_run 0 files umount "$TMPD/mnt"
if grep -F " $TMPD/mnt " /proc/self/mounts; then fail "still mounted"; fi
