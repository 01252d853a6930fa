#!/usr/bin/env bash
# A job runs on the domain (a pull-mode backup stays active until
# aborted): repair would race it, so it refuses every step (exit 5, the
# job named as the reason) and changes nothing; once the job is gone it
# repairs.
. "${srcdir:-.}/repair-functions.sh"
. "${srcdir:-.}/virsh-backup.sh"
. "${srcdir:-.}/virsh-backup-perdisk.sh"
rp_setup

rp_put 0x11 0 1M
rp_backup --full --name c1
lab_domain_stop "$dom"
lab_domain_start "$dom"
lab_domain_kill "$dom"
lab_domain_start "$dom"                 # c1 inconsistent in QEMU
lab_libvirt_pull_start "$dom" "$TMPD/nbd.sock" vda
rp_validate
assert_finding "$out" job-running
assert_finding "$out" bitmap-inconsistent checkpoint=c1

expect_exit 5 vckpt --json repair "$dom" --repo "$R"
jq -e '[.steps[] | {action, checkpoint, state}] ==
       [{"action": "delete-checkpoint", "checkpoint": "c1", "state": "refused"}]' "$out"
jq -e '.steps[0].error | test("a job runs on the domain [(]job-running[)]")' "$out"
grep -q "repair rp: 1 repair step refused: a job runs on the domain" "$err"
test "$(virsh -q checkpoint-list "$dom" --name)" = c1

virsh domjobabort "$dom"
expect_exit 0 vckpt --json repair "$dom" --repo "$R"
jq -e '[.steps[] | {action, checkpoint, state}] ==
       [{"action": "delete-checkpoint", "checkpoint": "c1", "state": "done"}]' "$out"
rp_validate
assert_no_finding "$out" bitmap-inconsistent
assert_no_finding "$out" job-running
rp_put 0x22 1M 1M
rp_backup --auto --name c2
jq -e '.level == "full"' "$out"
rp_restore_check
