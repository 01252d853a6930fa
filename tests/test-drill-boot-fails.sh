#!/usr/bin/env bash
# A restore drill of a backup that does not boot (the lab's domain with no
# OS sits in its BIOS and never prints the marker): verify --boot fails
# with exit 1 after --timeout, naming the backup; the failure is recorded
# as its last drill (list-backups, text and --json); nothing of the drill
# is left and the repository's files are unchanged.  Without an agent
# channel and without --marker the drill is refused before anything runs.
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/drill-functions.sh"
set -e -x
lab_start

dom=d1
R=$TMPD/repo
dt=$TMPD/drilltmp
mkdir -m 0711 "$dt"      # QEMU's user reaches the drill's overlays
lab_domain_define "$dom" --disk 64M
lab_domain_start "$dom"
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name c1
before=$(drill_sums "$R")

# No guest agent channel in the domain XML, no --marker: usage error.
TMPDIR=$dt expect_exit 2 vckpt verify "$dom" --boot --repo "$R"
grep -q "no guest agent channel" "$err"
drill_nothing_left "$dt"
expect_exit 0 vckpt --json list-backups "$dom" --repo "$R"
jq -e '.backups[0].last_drill == null' "$out"

TMPDIR=$dt expect_exit 1 vckpt verify "$dom" --boot --repo "$R" --timeout 3 \
    --marker VCKPT-NEVER-PRINTED
grep -q "backup full-.* did not boot: the console marker did not show within 3 s" "$err"
drill_nothing_left "$dt"
assert_eq "$before" "$(drill_sums "$R")" "backup files changed by the drill"

expect_exit 0 vckpt --json list-backups "$dom" --repo "$R"
jq -e '.backups[0].last_drill | .result == "failed" and .method == "marker" and
       (.message | test("did not show within 3 s"))' "$out"
expect_exit 0 vckpt list-backups "$dom" --repo "$R"
grep -q "last drill: .*FAILED" "$out"
expect_exit 0 vckpt --json verify "$dom" --repo "$R"
jq -e '.errors == 0 and .warnings == 0' "$out"
