#!/usr/bin/env bash
# The checkpoint a backup ended at is deleted and re-created under the same
# name within the same second, so name and creation time both match the
# record: its identity still differs, and validate --repo, --incremental
# (exit 4, checkpoint-replaced) and --auto (a new full chain) see it.
. "${srcdir:-.}/functions.sh"
set -e -x
lab_start
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom=samesecond
lab_domain_define "$dom" --disk 16M
lab_domain_start "$dom"
lab_write "$dom" vda 0x10 0 1M

# Each attempt takes well under a second; retry until the re-created
# checkpoint got the same creation time as the recorded one.
for (( n = 1; n <= 30; n++ )); do
    R=$TMPD/repo$n
    expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name s$n
    virsh checkpoint-delete "$dom" s$n
    virsh checkpoint-create-as "$dom" s$n
    rec=$(xmllint --xpath 'string(/domaincheckpoint/creationTime)' "$(find "$R" -name '*.checkpoint.xml')")
    live=$(virsh checkpoint-dumpxml "$dom" s$n | xmllint --xpath 'string(/domaincheckpoint/creationTime)' -)
    [ "$rec" = "$live" ] && break
    virsh checkpoint-delete "$dom" s$n
done
[ "$rec" = "$live" ] || fail "no attempt re-created the checkpoint within the same second"
lab_write "$dom" vda 0x12 8M 1M

expect_exit 4 vckpt --json validate "$dom" --repo "$R"
assert_finding "$out" checkpoint-replaced severity=error "message~with another identity"
expect_exit 4 vckpt --json backup "$dom" --repo "$R" --incremental s$n --name bad
assert_finding "$out" checkpoint-replaced severity=error
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name t$n
jq -e '.level == "full" and (.auto_reason | test("^checkpoint-replaced: "))' "$out"
mkdir "$TMPD/r"
expect_exit 0 vckpt restore "$dom" --repo "$R" --at t$n --to "$TMPD/r"
lab_expect_pattern "$TMPD/r/vda.qcow2" 0 1M 0x10
lab_expect_pattern "$TMPD/r/vda.qcow2" 8M 1M 0x12
