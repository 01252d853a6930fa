#!/usr/bin/env bash
# SIGTERM to backup --all (systemd stopping the service) reaches every
# child running: the one copying aborts its job and rolls back, the one
# waiting for its repository gives up, the one not started never starts;
# each says so in the summary with exit status 6, the run exits 6, and
# nothing is left: no new checkpoint, backup, journal or host lock.
. "${srcdir:-.}/fleet-functions.sh"
requires flock --version
lab_start
mkdir -m 0700 "$LOCKS"
lab_domain_define sa --disk 1G
lab_domain_start sa
lab_write sa vda 0x31 0 256M
lab_write sa vda 0x32 256M 256M
for d in sb sc; do
    lab_domain_define $d --disk 16M
    lab_domain_start $d
done
vckpt -q backup sb --full --name sb1 --repo "$R"
fleet_hold_readers sb

"$VCKPT" backup --all --auto --jobs 2 --repo "$R" > "$TMPD/o" 2> "$TMPD/e" &
pid=$!
cleanup_fn kill $pid
wait_for 30 "both backups holding their host locks" eval 'test "$(fleet_held_locks)" -eq 2'
wait_for 30 "sa's backup job" eval "virsh domjobinfo sa | grep -q '^Operation: *Backup'"
kill -TERM $pid
rc=0
wait $pid || rc=$?
cat "$TMPD/o" "$TMPD/e" >&2
test $rc -eq 6 || fail "backup --all after SIGTERM exited with $rc, expected 6"
assert_grep '^sa +interrupted .* 6$' "$TMPD/o"
assert_grep '^sb +interrupted .* 6$' "$TMPD/o"
assert_grep '^sc +not started .* 6$' "$TMPD/o"
assert_grep '^vckpt: backup sa: .*interrupted by signal 15' "$TMPD/e"
assert_grep '^vckpt: backup sb: interrupted by signal 15 while waiting for readers' "$TMPD/e"
assert_grep '^vckpt: backup sc: not started' "$TMPD/e"

# Everything rolled back.
test -z "$(virsh -q checkpoint-list sa --name)" || fail "sa kept a checkpoint"
test "$(virsh -q checkpoint-list sb --name)" = sb1
test -z "$(virsh -q checkpoint-list sc --name)" || fail "sc has a checkpoint"
if virsh domjobinfo sa | grep -q '^Operation: *Backup'; then fail "sa's job still runs"; fi
test "$(vckpt --json list-backups sb --repo "$R" | jq '.backups | length')" -eq 1
if [ -e "$R/sa/manifest.xml" ]; then
    test "$(vckpt --json list-backups sa --repo "$R" | jq '.backups | length')" -eq 0
fi
test -z "$(find "$R" -name '*.qcow2' -path '*/sa/*')" || fail "sa's files are left"
test ! -e "$R/sa/pending.xml"
test ! -e "$R/sc"
test "$(fleet_held_locks)" -eq 0
pgrep -P $pid && fail "children of backup --all still run"
fleet_release_readers
