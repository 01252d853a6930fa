#!/usr/bin/env bash
# restore --instant records the domain that runs from a backup in
# REPO/DOMAIN/instant.json; while it is recorded (here: the domain was
# destroyed and undefined behind vckpt's back, so libvirt no longer knows
# the name) a second --instant of that name is refused (status 5) before
# anything is created, and --finish of a domain that does not run fails
# (status 3) leaving the record, so its backup stays protected.
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/drill-functions.sh"
set -e -x
lab_start

dom=d1
R=$TMPD/repo
I=$TMPD/instant
mkdir "$I" "$TMPD/i2" "$TMPD/f"
lab_domain_define "$dom" --disk 64M
lab_domain_start "$dom"
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name c1
lab_domain_stop "$dom"
before=$(drill_sums "$R")

expect_exit 0 vckpt restore "$dom" --instant --define n1 --to "$I" --repo "$R"
test "$(lab_domain_state n1)" = running
qemu-img info -U --output=json "$I/n1-vda.instant.qcow2" |
    jq -e --arg b "$R/$dom" '.["backing-filename"] | startswith($b)'
test "$(stat -c %a "$I/n1-vda.instant.qcow2")" = 600
jq -e '.domains | length == 1 and .[0].name == "n1" and (.[0].backup | startswith("full-"))' \
    "$R/$dom/instant.json"
expect_exit 0 vckpt --json verify "$dom" --repo "$R"
jq -e '.errors == 0 and .warnings == 0' "$out"

virsh -c "$LAB_URI" destroy n1
virsh -c "$LAB_URI" undefine n1
expect_exit 5 vckpt restore "$dom" --instant --define n1 --to "$TMPD/i2" --repo "$R"
grep -q "'n1' already runs from a backup" "$err"
test -z "$(ls -A "$TMPD/i2")" || fail "files left: $(ls -A "$TMPD/i2")"
if virsh -c "$LAB_URI" dominfo n1 >/dev/null 2>&1; then fail "n1 was defined"; fi

expect_exit 3 vckpt restore --finish n1 --to "$TMPD/f" --repo "$R"
jq -e '.domains[0].name == "n1"' "$R/$dom/instant.json"
test -z "$(ls -A "$TMPD/f")"
assert_eq "$before" "$(drill_sums "$R")" "backup files changed"
