#!/usr/bin/env bash
# backup --all over the hosts of the policy file: two private labs (two
# libvirtd, each on its own socket URI), a host section each.  Every
# running domain of both is backed up (each child with -c its host's URI:
# the default URI is one that cannot be reached), each host's domains at
# most its own jobs at once, the summary naming the host of each; status
# shows where each backup came from.  With one lab's libvirtd killed, the
# other's domains are still backed up; the dead host is a row of its own
# ("unreachable", its exit status), and the run exits 1.
. "${srcdir:-.}/fleet-functions.sh"
mkdir -m 0700 "$LOCKS"
mkdir -m 0711 "$R"

model ()
{
    qemu-img create -q -f qcow2 "$TMPD/model-$1.qcow2" 16M
    qemu-io -f qcow2 -c "write -P $2 0 1M" "$TMPD/model-$1.qcow2" >/dev/null
}
lab_start "$TMPD/lab1"
U1=$LAB_URI
lab_domain_define a1 --disk 16M
lab_domain_start a1
lab_write a1 vda 0x61 0 1M
model a1 0x61
lab_start "$TMPD/lab2"
U2=$LAB_URI
for d in b1 b2 b3; do
    lab_domain_define "$d" --disk 16M
    lab_domain_start "$d"
done
lab_write b1 vda 0x62 0 1M; model b1 0x62
lab_write b2 vda 0x63 0 1M; model b2 0x63
lab_write b3 vda 0x64 0 1M; model b3 0x64

cat > "$TMPD/policy.conf" <<CONF
repository = "$R"
host one { uri = "$U1" }
host two {
  uri = "$U2"
  jobs = 2
}
CONF
expect_exit 0 vckpt --config "$TMPD/policy.conf" config check
assert_grep ': valid, 0 domain sections, 2 hosts$' "$out"
# Nothing may go through the default connection.
export LIBVIRT_DEFAULT_URI="qemu:///system?socket=$TMPD/no-such-socket"

# Each host's jobs: one 1, two 2.  Every child stops at its test hook once
# its backup is committed: one's a1 and two of two's stop at once, and
# the third of two's is not started while they hold its two places.
VCKPT_TEST_HOOK=backup-committed "$VCKPT" --config "$TMPD/policy.conf" backup --all --auto \
    >"$TMPD/o" 2>"$TMPD/e" &
pid=$!
stopped () { test "$(ps --ppid "$pid" -o stat= | grep -c '^T')" -eq "$1"; }
wait_for 120 "three backups stopped at their hook" stopped 3
test "$(ps --ppid "$pid" -o pid= | wc -l)" -eq 3 || fail "more children than the hosts' jobs"
while [ -n "$(ps --ppid "$pid" -o pid=)" ]; do
    for c in $(ps --ppid "$pid" -o pid=,stat= | awk '$2 ~ /^T/ { print $1 }'); do
        kill -CONT "$c"
    done
    sleep 0.05
done
rc=0
wait "$pid" || rc=$?
cat "$TMPD/e" >&2
test "$rc" -eq 0 || fail "backup --all over two hosts exited with $rc"
assert_grep '^HOST +DOMAIN +OUTCOME +LEVEL +BYTES +SECONDS +EXIT$' "$TMPD/o"
assert_grep '^one +a1 +ok +full .* 0$' "$TMPD/o"
for d in b1 b2 b3; do
    assert_grep "^two +$d +ok +full .* 0\$" "$TMPD/o"
done
assert_grep '^4 domains on 2 hosts: 4 backed up, 0 failed$' "$TMPD/o"
for d in a1 b1 b2 b3; do
    fleet_restore_check "$d"
done

# status: each backup's host, by the URI it was made over.
expect_exit 0 vckpt --json status --repo "$R"
test "$(jq -r '.repositories[0].domains[] | select(.domain == "a1") | .last_backup.uri' "$out")" = "$U1"
test "$(jq -r '.repositories[0].domains[] | select(.domain == "b2") | .last_backup.uri' "$out")" = "$U2"

# two's libvirtd dies: one's domain is still backed up; two is a row of
# its own with its exit status, named on stderr; the run exits 1.
lab_use "$TMPD/lab2"
lab_daemon_kill
lab_use "$TMPD/lab1"
lab_write a1 vda 0x71 2M 64K
export LIBVIRT_DEFAULT_URI="qemu:///system?socket=$TMPD/no-such-socket"
expect_exit 1 vckpt --config "$TMPD/policy.conf" backup --all --auto
assert_grep '^one +a1 +ok +incremental .* 0$' "$out"
assert_grep '^two +- +unreachable +- .* 1$' "$out"
assert_grep '^1 domain on 2 hosts: 1 backed up, 0 failed; 1 host unreachable$' "$out"
grep -qF "vckpt: backup --all: host two: cannot connect to '$U2': " "$err" ||
    fail "two's failure not named on stderr"
assert_no_grep 'host one' "$err"
test "$(vckpt --json list-backups a1 --repo "$R" | jq -r '.backups[-1].level')" = incremental

# --json: a result per domain and host, each with its host.
expect_exit 1 vckpt --json --config "$TMPD/policy.conf" backup --all --auto
test "$(jq -r '[.[] | "\(.host)/\(.unit)=\(.exit)"] | join(" ")' "$out")" = "one/a1=0 two/two=1"
jq -e '.[1].result == null and .[0].result.level == "incremental"' "$out"

# -c names one host: the policy's hosts are not used.
expect_exit 0 vckpt -c "$U1" --config "$TMPD/policy.conf" backup --all --auto
assert_grep '^1 domain: 1 backed up, 0 failed$' "$out"
