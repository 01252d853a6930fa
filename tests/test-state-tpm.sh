#!/usr/bin/env bash
# A domain with an emulated TPM 2.0 (swtpm): the backup keeps its state
# (tpm2-00.permall); restore --define copies it into the new domain's
# swtpm directory (made from its new UUID) before the first start, so
# libvirt does not manufacture a fresh TPM, and the new domain starts.
. "${srcdir:-.}/state-functions.sh"
requires swtpm --version
requires test -x /usr/bin/swtpm_setup
lab_start
# vckpt runs outside the lab's namespace: libvirt's swtpm directory is here.
export VCKPT_SWTPM_DIR=$LAB/lib/swtpm
sf_define "$dom" --tpm
lab_domain_start "$dom"
uuid=$(virsh domuuid "$dom")
state=$VCKPT_SWTPM_DIR/$uuid/tpm2/tpm2-00.permall
wait_for 30 "swtpm state of $dom" test -s "$state"
lab_domain_stop "$dom"
sum=$(sf_sha "$state")

expect_exit 0 vckpt backup "$dom" --full --name c1 --repo "$R"
id=$(xmllint --xpath "string(/manifest/backup[1]/@id)" "$R/$dom/manifest.xml")
copy="$R/$dom/$(xmllint --xpath "string(/manifest/backup[1]/state/tpm/file)" \
                "$R/$dom/manifest.xml")"
assert_eq "$sum" "$(sf_sha "$copy")" "the stored TPM state"
assert_eq 600 "$(stat -c %a "$copy")" "the copy's mode"
expect_exit 0 vckpt verify "$dom" --repo "$R"

mkdir "$TMPD/to"
expect_exit 0 vckpt restore "$dom" --repo "$R" --to "$TMPD/to" --define new
nuuid=$(virsh domuuid new)
[ "$nuuid" != "$uuid" ]
nstate=$VCKPT_SWTPM_DIR/$nuuid/tpm2/tpm2-00.permall
assert_eq "$sum" "$(sf_sha "$nstate")" "the new domain's TPM state before its start"
assert_eq "$sum" "$(sf_sha "$state")" "the original's TPM state"
lab_domain_start new
lab_domain_state new | grep -qx running
# libvirt ran swtpm on the restored state: it did not manufacture a new TPM.
# (swtpm logs to /var/log/swtpm in the lab's namespace.)
log=/proc/$LAB_DAEMON_PID/root/var/log/swtpm/libvirt/qemu
cat "$log/$dom-swtpm.log" "$log/new-swtpm.log"
assert_grep "manufactur|Starting vTPM" "$log/$dom-swtpm.log"
assert_no_grep "manufactur|Starting vTPM" "$log/new-swtpm.log"
lab_domain_stop new
