# vckpt test suite: shared setup of the validator's image cases
# (test-validate-image-*.sh, one case per file).
#
# Usage, at the top of a case:
#
#   #!/usr/bin/env bash
#   . "${srcdir:-.}/validate-images-functions.sh"
#   set -e -x
#   vi_setup
#
# vi_setup starts a lab with the shut-off domain $dom ("v1", one 64 MiB
# qcow2 disk) that has checkpoints c1 and c2, 1 MiB written after each;
# its image is $img, in the directory $dir, and a pristine copy is kept.
# vi_setup --image-only: the domain is defined but never started, its
# image empty, without checkpoints (for cases about the image file alone,
# which validate --full; saves a second).
# The cases change the image with real tools (qemu-img bitmap, create,
# rebase, truncate, dd) and check what the validator says.
#
# Functions:
#   restore                 the pristine image back, base/mid removed
#   refused CODE [ARGS...]  validate ARGS refuses (exit 4, REFUSED:) with
#                           the error finding CODE in its --json output
#   ok [ARGS...]            validate ARGS says OK (exit 0)
#   libvirt_backs_up_since_c1  what libvirt does with an incremental from c1
#                           (succeeds, exactly the data since c1)
# Both check first that the validator reads the same bitmaps as qemu-img
# (assert_bitmaps_match, compare.sh), except for unreadable images.

. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/virsh-backup.sh"
. "${srcdir:-.}/compare.sh"
requires qemu-img --version

dom=v1

vi_setup ()
{
    lab_start
    lab_domain_define "$dom" --disk 64M
    if [ "${1:-}" != --image-only ]; then
        lab_domain_start "$dom"
        expect_exit 0 vckpt checkpoint create "$dom" c1
        lab_write "$dom" 0 0x11 0 1M
        expect_exit 0 vckpt checkpoint create "$dom" c2
        lab_write "$dom" 0 0x22 1M 1M
        lab_domain_stop "$dom"
    fi
    img=$(lab_disk_path "$dom" vda)
    dir=$(dirname "$img")
    cp "$img" "$TMPD/pristine.qcow2"
}

restore () { cp "$TMPD/pristine.qcow2" "$img"; rm -f "$dir/base.qcow2" "$dir/mid.qcow2"; }

refused ()
{
    local code=$1
    shift
    case "$code" in image-*|backing-*) ;; *) assert_bitmaps_match "$img" ;; esac
    expect_exit 4 vckpt validate "$dom" "$@"
    grep -q "^REFUSED: " "$out"
    expect_exit 4 vckpt --json validate "$dom" "$@"
    assert_finding "$out" "$code" severity=error
    jq -e '.ok == false' "$out"
}

ok ()
{
    assert_bitmaps_match "$img"
    expect_exit 0 vckpt validate "$dom" "$@"
    grep -q "^OK: " "$out"
}

# libvirt_backs_up_since_c1: start the domain, write 1 MiB of 0x33 at 2M,
# and check what libvirt itself does with an incremental push backup from
# c1: it succeeds, and the target holds exactly the 3 MiB written since c1
# with the right bytes (read without its backing file).
libvirt_backs_up_since_c1 ()
{
    lab_domain_start "$dom"
    lab_write "$dom" 0 0x33 2M 1M
    lab_libvirt_backup "$dom" c1 "$TMPD/since-c1" ||
        fail "libvirt refused the incremental from c1 that validate passed"
    lab_domain_stop "$dom"
    local t="$TMPD/since-c1/vda.qcow2" opts
    opts="json:{\"driver\":\"qcow2\",\"backing\":null,\"file\":{\"driver\":\"file\",\"filename\":\"$t\"}}"
    test "$(qemu-img map --output=json "$opts" |
            jq '[.[] | select(.data) | .length] | add')" -eq $((3 << 20)) ||
        fail "the backup from c1 does not hold exactly the 3 MiB written since c1"
    if qemu-io -r -c "read -P 0x11 0 1M" -c "read -P 0x22 1M 1M" -c "read -P 0x33 2M 1M" \
            "$opts" | grep -q "Pattern verification failed"; then
        fail "wrong bytes in the backup from c1"
    fi
}
