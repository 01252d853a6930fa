#!/usr/bin/env bash
# Faults during backups: SIGINT and SIGKILL of vckpt mid-copy, ENOSPC in the
# repository, QEMU killed mid-backup, a second run while one holds the lock,
# an excluded disk.  After each: no checkpoint or partial file left behind,
# the manifest lists only complete backups, and the next --auto backup is
# correct, proven by a bit-exact restore.
. "${srcdir:-.}/functions.sh"
set -e -x
requires_root
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

# A small file system for the ENOSPC case; mounted before the lab starts so
# QEMU, in the lab's mount namespace, writes to the same one.
mkdir "$TMPD/small"
mount -t tmpfs -o size=48M tmpfs "$TMPD/small"
cleanup_fn umount -l "$TMPD/small"
lab_start

dom=faults
R=$TMPD/repo
lab_domain_define "$dom" --disk 1G --disk 32M
lab_domain_start "$dom"
qemu-img create -q -f qcow2 "$TMPD/model-vda.qcow2" 1G
qemu-img create -q -f qcow2 "$TMPD/model-vdb.qcow2" 32M
put() {
    lab_write "$dom" "$1" "$2" "$3" "$4"
    qemu-io -f qcow2 -c "write -P $2 $3 $4" "$TMPD/model-$1.qcow2" >/dev/null
}
# Enough data that a full backup takes a while.
put vda 0x31 0 256M
put vda 0x32 256M 256M
put vdb 0x41 0 1M

nbackups() { vckpt --json list-backups "$dom" --repo "$1" | jq '.backups | length'; }
checkpoints() { virsh -q checkpoint-list "$dom" --name | sort | tr '\n' ' '; }
disk_files() { find "$1/$dom" -name '*.qcow2' | wc -l; }
wait_job() {   # wait until libvirt runs a backup job on the domain
    local i
    for (( i = 0; i < 200; i++ )); do
        virsh domjobinfo "$dom" | grep -q '^Operation: *Backup' && return 0
        kill -0 $pid 2>/dev/null || { cat "$TMPD/e" >&2 || true; fail "vckpt exited before its job started"; }
        sleep 0.05
    done
    fail "no backup job started"
}
restored_ok() {   # restored_ok CHECKPOINT DISK...: restore and compare
    local chk=$1 d dir
    shift
    dir=$(mktemp -d "$TMPD/r.XXXXXX")
    expect_exit 0 vckpt restore "$dom" --repo "$R" --at "$chk" --to "$dir"
    for d in "$@"; do
        qemu-img compare -q "$TMPD/model-$d.qcow2" "$dir/$d.qcow2" ||
            fail "restore at $chk: $d differs from what was written"
    done
}

# 1. SIGINT mid-copy: aborted, exit 6, nothing left behind.
"$VCKPT" backup "$dom" --repo "$R" --full --name int1 > "$TMPD/o" 2> "$TMPD/e" & pid=$!   # the binary itself: $! is its pid
wait_job
kill -INT $pid
rc=0; wait $pid || rc=$?
cat "$TMPD/e"
test $rc -eq 6 || fail "SIGINT: exit $rc, want 6"
grep -q "interrupted by signal 2: the backup job was aborted, its checkpoint 'int1' deleted" "$TMPD/e"
test "$(checkpoints)" = ""
test "$(nbackups "$R")" -eq 0
test "$(disk_files "$R")" -eq 0
test ! -e "$R/$dom/pending.xml"
virsh domjobinfo "$dom" > "$TMPD/job"
assert_no_grep '^Operation: *Backup' "$TMPD/job"

# 1b. SIGTERM (systemd stopping a timer's service) is handled the same way.
"$VCKPT" backup "$dom" --repo "$R" --full --name term1 > "$TMPD/o" 2> "$TMPD/e" & pid=$!
wait_job
kill -TERM $pid
rc=0; wait $pid || rc=$?
test $rc -eq 6 || fail "SIGTERM: exit $rc, want 6"
grep -q "interrupted by signal 15" "$TMPD/e"
test "$(checkpoints)" = ""
test "$(nbackups "$R")" -eq 0
test "$(disk_files "$R")" -eq 0

# 2. SIGKILL mid-copy: the job goes on in libvirt; the next run finishes the
#    cleanup (job aborted or done, checkpoint deleted, files removed).
"$VCKPT" backup "$dom" --repo "$R" --full --name kill1 > /dev/null 2>&1 & pid=$!
wait_job
kill -KILL $pid
wait $pid || true
test -e "$R/$dom/pending.xml"
expect_exit 0 vckpt --json list-backups "$dom" --repo "$R"
jq -e '(.backups | length) == 0' "$out"
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name a1
jq -e '.level == "full" and .checkpoint == "a1"' "$out"
grep -q "cleaned up after an interrupted backup (checkpoint 'kill1' deleted)" "$err"
test "$(checkpoints)" = "a1 "
test "$(nbackups "$R")" -eq 1
test "$(disk_files "$R")" -eq 2
test ! -e "$R/$dom/pending.xml"
restored_ok a1 vda vdb

# 3. A second run while the repository is locked: busy, exit 5, at once.
# A holder that keeps the lock until $TMPD/hold goes (-o: only flock
# holds it, not the command).
touch "$TMPD/hold"
cleanup_fn rm -f "$TMPD/hold"
flock -o "$R/$dom/lock" sh -c "while [ -e '$TMPD/hold' ]; do sleep 0.05; done" & holder=$!
lock_taken() { if flock -n "$R/$dom/lock" true; then return 1; fi; }
wait_for 30 "the holder taking the lock" lock_taken
expect_exit 5 vckpt backup "$dom" --repo "$R" --auto
grep -q "locked" "$err"
test "$(checkpoints)" = "a1 "
rm "$TMPD/hold"
wait $holder

# 4. ENOSPC: refused by the preflight; with --no-validate the copy fails
#    for real in the middle and everything is rolled back.
expect_exit 4 vckpt backup "$dom" --repo "$TMPD/small" --full --name nospace
grep -q '^error *no-space ' "$out"
test "$(checkpoints)" = "a1 "
expect_exit 1 vckpt backup "$dom" --repo "$TMPD/small" --full --no-validate --name nospace
grep -qi "no space left" "$err"
test "$(checkpoints)" = "a1 "
test "$(nbackups "$TMPD/small")" -eq 0
test "$(disk_files "$TMPD/small")" -eq 0
test "$(df --output=used -k "$TMPD/small" | tail -1)" -lt 1024

# 5. QEMU killed mid-backup: the job fails, its checkpoint goes; a1's
#    bitmaps, created during that QEMU run, never reached the images, so
#    --auto starts a new full chain.
put vda 0x33 600M 1M
# Like a guest that syncs: writes not flushed are lost when QEMU is killed
# (QEMU caches qcow2 metadata), and the model could not know.
for n in 0 1; do
    virsh qemu-monitor-command "$dom" --hmp \
        "qemu-io -d /machine/peripheral/virtio-disk$n/virtio-backend \"flush\"" >&2
done
"$VCKPT" backup "$dom" --repo "$R" --full --name q1 > "$TMPD/o" 2> "$TMPD/e" & pid=$!
wait_job
lab_domain_kill "$dom"
rc=0; wait $pid || rc=$?
cat "$TMPD/e"
test $rc -eq 1
grep -q "the domain stopped during the backup" "$TMPD/e"
virsh -q checkpoint-list "$dom" --name > "$TMPD/checkpoints"
assert_no_grep '^q1$' "$TMPD/checkpoints"
test "$(nbackups "$R")" -eq 1
test "$(disk_files "$R")" -eq 2
lab_domain_start "$dom"
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name a2
jq -e '.level == "full" and (.auto_reason | test("^bitmap-missing vda: "))' "$out"
# ... and the manifest records why.
vckpt --json list-backups "$dom" --repo "$R" | jq -e '.backups[-1].note | test("^auto: new full chain: bitmap-missing vda: ")'
xmllint --noout --relaxng "$abs_top_srcdir/xml/manifest.rng" "$R/$dom/manifest.xml"
jq -e '.preflight.running' "$out"
restored_ok a2 vda vdb
# a1 still restores the state before the 0x33 write.
mkdir "$TMPD/ra1"
expect_exit 0 vckpt restore "$dom" --repo "$R" --at a1 --to "$TMPD/ra1"
lab_expect_pattern "$TMPD/ra1/vda.qcow2" 600M 1M zero
lab_expect_pattern "$TMPD/ra1/vda.qcow2" 256M 256M 0x32

# 6. An excluded disk: the increment has vda only; the next --auto copies
#    vdb, which that backup and its checkpoint lack, whole in the same
#    incremental job.
put vda 0x34 700M 1M
put vdb 0x42 4M 1M
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --exclude vdb --name a3
jq -e '.level == "incremental" and .since == "a2"' "$out"
test "$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[-1].disks | map(.target) | join(",")')" = vda
restored_ok a3 vda
expect_exit 0 vckpt --json backup "$dom" --repo "$R" --auto --name a4
jq -e '.level == "incremental" and .since == "a3" and .auto_reason == null' "$out"
jq -e '.preflight.whole == ["vdb"]' "$out"
jq -e '[.preflight.findings[] | select(.code == "disk-not-covered") | .disk] == ["vdb"]' "$out"
restored_ok a4 vda vdb
expect_exit 0 vckpt verify "$dom" --repo "$R"

# 7. Two real runs at once: the second exits at once with the busy code,
#    naming the first; the first completes undisturbed.
before=$(nbackups "$R")
"$VCKPT" backup "$dom" --repo "$R" --full --name c1 > "$TMPD/o" 2> "$TMPD/e" & pid=$!
wait_job
expect_exit 5 vckpt backup "$dom" --repo "$R" --auto --name c2
grep -q "locked by pid $pid " "$err"
rc=0; wait $pid || rc=$?
test $rc -eq 0 || { cat "$TMPD/e"; fail "the first run failed: exit $rc"; }
test "$(nbackups "$R")" -eq $((before + 1))
virsh -q checkpoint-list "$dom" --name > "$TMPD/checkpoints"
assert_no_grep '^c2$' "$TMPD/checkpoints"

# 8. --quiesce without a guest agent: a clear failure, nothing left behind.
before=$(nbackups "$R")
files=$(disk_files "$R")
cks=$(checkpoints)
expect_exit 1 vckpt backup "$dom" --repo "$R" --auto --quiesce --name qz
grep -q "cannot freeze the guest's file systems (--quiesce needs the guest agent)" "$err"
test "$(checkpoints)" = "$cks"
test "$(nbackups "$R")" -eq "$before"
test "$(disk_files "$R")" -eq "$files"
test ! -e "$R/$dom/pending.xml"

# 9. Progress: a line with percent and rate on a terminal (script(1) gives
#    a pty), nothing with -q, nothing when stderr is not a terminal.
requires script --version
script -qec "$(printf '%q ' "$VCKPT" backup "$dom" --repo "$R" --full --name p1)" /dev/null > "$TMPD/tty.out"
grep -aq '[0-9]%  .* of .*/s' "$TMPD/tty.out" || fail "no progress line on a terminal"
grep -aq "Backup full-.* complete" "$TMPD/tty.out"
script -qec "$(printf '%q ' "$VCKPT" -q backup "$dom" --repo "$R" --full --name p2)" /dev/null > "$TMPD/tty-q.out"
assert_no_grep '%  ' "$TMPD/tty-q.out"
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name p3
assert_no_grep '%  ' "$err"
