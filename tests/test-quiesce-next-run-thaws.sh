#!/usr/bin/env bash
# A freeze a killed run may have left (the guest frozen by hand, and the
# marker such a run leaves next to the host lock): the next backup of the
# domain thaws the guest first, says so, removes the marker, and backs up.
. "${srcdir:-.}/quiesce-functions.sh"
set -e -x
quiesce_setup

virsh domfsfreeze "$dom"
test "$(fsfreeze_status)" = frozen
printf 'pid=1\nstart=0\ndomain=%s\n' "$dom" > "$MARKER"
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name k1
grep -q "thawed the file systems of domain '$dom'" "$err"
test "$(fsfreeze_status)" = thawed
test ! -e "$MARKER"
expect_exit 0 vckpt --json list-backups "$dom" --repo "$R"
test "$(jq -r '.backups[0].quiesced' "$out")" = false
