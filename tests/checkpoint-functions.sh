# vckpt test suite: shared setup of the checkpoint command cases against a
# real daemon (test-checkpoint-*.sh that source it, one case per file).
#
# Usage, at the top of a case:
#
#   #!/usr/bin/env bash
#   . "${srcdir:-.}/checkpoint-functions.sh"
#   set -e -x
#   ck_setup [--no-checkpoints]
#
# ck_setup starts a lab with the running domain $dom ("web 1": a name
# with a space; vda 64 MiB, vdb 32 MiB) and, unless --no-checkpoints, the
# checkpoints c1 (all disks, description 'first <one>'), then 2 MiB
# written to vda, c2 (vda only: vdb left out), c3 (c1 <- c2 <- c3), and
# vckpt's dumpxml of c1 and c2 in $TMPD/c1.xml and $TMPD/c2.xml.
#
# Functions:
#   ncheckpoints    the number of checkpoints libvirt has for $dom

. "${srcdir:-.}/functions.sh"

dom='web 1'
ncheckpoints () { virsh -q checkpoint-list "$dom" --name | grep -c . || true; }

ck_setup ()
{
    lab_start
    lab_domain_define "$dom" --disk 64M --disk 32M
    lab_domain_start "$dom"
    [ "${1:-}" != --no-checkpoints ] || return 0
    expect_exit 0 vckpt checkpoint create "$dom" c1 --description 'first <one>'
    lab_write "$dom" 0 0xab 1M 2M
    expect_exit 0 vckpt checkpoint create "$dom" c2 --disk vda
    expect_exit 0 vckpt checkpoint create "$dom" c3
    expect_exit 0 vckpt checkpoint dumpxml "$dom" c1
    cp "$out" "$TMPD/c1.xml"
    expect_exit 0 vckpt checkpoint dumpxml "$dom" c2
    cp "$out" "$TMPD/c2.xml"
}
