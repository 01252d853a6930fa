#!/usr/bin/env bash
# A copy to restic over a real network: restic's SFTP backend, through
# ssh, to Debian's sshd in a network namespace reached over a veth pair.
# The copy crosses the TCP connection (sshd logs the key login from this
# side's address); restore --from gives points back bit for bit,
# list-backups and verify --from read it there; with the server gone,
# restic's failure is passed on (exit 1, ssh's message) and restore
# leaves nothing.
. "${srcdir:-.}/restic-functions.sh"
bf_setup
rs_sftp_start
rs_init
rs_copy
assert_grep "Accepted publickey for root from $SFTP_HOST_ADDR" "$SFTP_LOG"
test -f "$TMPD/sftp/repo/config" || fail "the restic repository is not on the server"

rs_restore_point 4 ""
rs_restore_point 1 ""
expect_exit 0 vckpt --json list-backups "$dom" --from "restic:$RR" --password-file "$RP"
jq -e '(.backups | length) == 5' "$out"
expect_exit 0 vckpt --json verify "$dom" --from "restic:$RR" --password-file "$RP"
jq -e '.files == 10 and .errors == 0' "$out"

kill "$SFTP_PID"
wait "$SFTP_PID" || true
mkdir "$TMPD/after"
expect_exit 1 vckpt restore "$dom" --from "restic:$RR" --password-file "$RP" \
    --to "$TMPD/after"
assert_grep "restic snapshots failed .restic:sftp:root@$SFTP_ADDR:" "$err"
assert_grep 'Connection refused' "$err"
assert_eq "" "$(ls -A "$TMPD/after")" "what restore left in --to"
