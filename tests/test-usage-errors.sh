#!/usr/bin/env bash
# Command-line errors give a one-line message and the documented exit code,
# without needing a libvirt daemon.
. "${srcdir:-.}/functions.sh"
set -e -x

expect_exit 0 vckpt --version
grep -q '^vckpt [0-9]' "$out"
expect_exit 0 vckpt --help
grep -q 'checkpoint create' "$out"
expect_exit 0 vckpt help checkpoint create
grep -q '^Usage: vckpt checkpoint create DOMAIN \[NAME\]' "$out"
expect_exit 0 vckpt checkpoint create --help
grep -q -- '--print-xml' "$out"

# Usage errors: exit 2, nothing on stdout, one line on stderr naming the cause.
usage_error() {
    expect_exit 2 vckpt "$@"
    test ! -s "$out" || fail "usage error wrote to stdout: $*"
    grep -q '^vckpt: ' "$err" || fail "no 'vckpt:' message for: $*"
}
usage_error
usage_error frobnicate
grep -q "unknown command 'frobnicate'" "$err"
usage_error checkpoint
grep -q "'checkpoint' needs a subcommand" "$err"
usage_error checkpoint frob web1
usage_error --no-such-option checkpoint list web1
grep -q -- '--no-such-option: unknown option' "$err"
usage_error checkpoint list web1 --bogus
usage_error checkpoint list
grep -q 'missing arguments' "$err"
usage_error checkpoint list a b
grep -q 'too many arguments' "$err"
usage_error checkpoint list web1 --tree --roots
grep -q -- '--tree and --roots cannot be used together' "$err"
usage_error checkpoint info web1
usage_error help no-such-command

# Invalid checkpoint names are refused before any connection is made
# (the URI below cannot be connected to).
for bad in 'a/b' '..' '../x' 'a<b' 'a&b' "a'b" 'a"b' 'a b' 'café' '' '-x' '.x'; do
    usage_error -c 'qemu:///nowhere?socket=/nonexistent' checkpoint create web1 "$bad"
    test "$(wc -l < "$err")" -eq 1 || fail "more than one line for name '$bad'"
done
grep -q "invalid checkpoint name '.x': must not start with '.'" "$err"
usage_error checkpoint create '' c1
grep -q 'domain name is empty' "$err"
usage_error checkpoint create web1 c1 --disk 'vda,,vdb' --print-xml
grep -q "empty item in disk list" "$err"

# A URI that cannot be connected to: operation failure, exit 1.
expect_exit 1 vckpt -c 'qemu:///system?socket=/nonexistent/sock' checkpoint list web1
grep -q "cannot connect to 'qemu:///system?socket=/nonexistent/sock'" "$err"
test "$(wc -l < "$err")" -eq 1

# Unknown domain and checkpoint on the test driver: not found, exit 3.
expect_exit 3 vckpt -c test:///default checkpoint list nodom
grep -q "domain 'nodom' not found" "$err"
expect_exit 3 vckpt -c test:///default checkpoint info test nochk
grep -q "checkpoint 'nochk' not found in domain 'test'" "$err"
expect_exit 3 vckpt -c test:///default checkpoint delete test nochk
expect_exit 3 vckpt -c test:///default checkpoint dumpxml test nochk
expect_exit 3 vckpt -c test:///default checkpoint create test c1 --disk vdz
grep -q "disk 'vdz' not found in domain 'test' (disks: vda)" "$err"
expect_exit 3 vckpt -c test:///default checkpoint redefine test "$TMPD/missing.xml"

# Control characters in a domain name are not echoed raw.
expect_exit 2 vckpt -c test:///default checkpoint list "$(printf 'a\033[2Jb')"
grep -q "invalid domain name 'a?\[2Jb': contains a control character" "$err"
# The "COMMAND DOMAIN: " context before the message: see
# test-usage-errors-control-char-in-context.sh (expected to fail today).

# A write error on stdout is reported (exit 1), not ignored.
if test -w /dev/full; then
    rc=0
    vckpt --help > /dev/full 2> "$TMPD/full.err" || rc=$?
    test "$rc" -eq 1 || fail "write to /dev/full: exit $rc, want 1"
    grep -q 'write error on standard output' "$TMPD/full.err"
fi
