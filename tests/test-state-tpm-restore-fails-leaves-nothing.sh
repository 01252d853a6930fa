#!/usr/bin/env bash
# restore --define of a domain with TPM state, when the state cannot be
# written into the new domain's swtpm directory: status 1, and the new
# domain is undefined again (it would start with a fresh TPM), its NVRAM
# copy and images removed.
. "${srcdir:-.}/state-functions.sh"
requires swtpm --version
lab_start
export VCKPT_SWTPM_DIR=$LAB/lib/swtpm
sf_define "$dom" --tpm
lab_domain_start "$dom"
uuid=$(virsh domuuid "$dom")
wait_for 30 "swtpm state of $dom" test -s "$VCKPT_SWTPM_DIR/$uuid/tpm2/tpm2-00.permall"
lab_domain_stop "$dom"
expect_exit 0 vckpt backup "$dom" --full --name c1 --repo "$R"
test -n "$(xmllint --xpath 'string(/manifest/backup[1]/state/tpm/file)' "$R/$dom/manifest.xml")"
# A swtpm "directory" that is a regular file: nothing can be made in it.
touch "$TMPD/not-a-dir"
mkdir "$TMPD/to"
VCKPT_SWTPM_DIR=$TMPD/not-a-dir \
    expect_exit 1 vckpt restore "$dom" --repo "$R" --to "$TMPD/to" --define new
assert_grep "not-a-dir" "$err"
assert_grep "the new domain 'new' was undefined again" "$err"
if virsh dominfo new >/dev/null 2>&1; then
    fail "domain new is still defined"
fi
assert_eq "" "$(ls -A "$TMPD/to")" "files left in --to"
