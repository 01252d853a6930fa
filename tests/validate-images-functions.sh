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
