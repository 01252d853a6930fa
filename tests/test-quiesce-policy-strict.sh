#!/usr/bin/env bash
# The policy file's "quiesce = true" means --quiesce, strict: a domain
# without a guest agent fails its backup (exit 1, nothing left behind);
# --quiesce=try on the command line makes it lenient: a warning and a
# backup recorded as not quiesced.
. "${srcdir:-.}/faults-functions.sh"
set -e -x
faults_setup
printf 'quiesce = true\n' > "$TMPD/policy.conf"
export VCKPT_CONFIG=$TMPD/policy.conf

expect_exit 1 vckpt backup "$dom" --repo "$R" --full --name q1
grep -q "cannot freeze the guest's file systems (--quiesce needs the guest agent)" "$err"
test "$(checkpoints)" = ""
test ! -e "$R/$dom/pending.xml"

expect_exit 0 vckpt backup "$dom" --repo "$R" --full --quiesce=try --name q2
grep -q -- "--quiesce=try goes on with a crash-consistent backup" "$err"
expect_exit 0 vckpt --json list-backups "$dom" --repo "$R"
test "$(jq -r '[.backups[] | "\(.checkpoint)=\(.quiesced)"] | join(",")' "$out")" = q2=false
