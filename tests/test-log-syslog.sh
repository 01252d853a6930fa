#!/usr/bin/env bash
# --syslog sends the log lines to syslog(3), facility daemon, tag
# vckpt[PID]: info for events, err for failures.  Captured with a private
# /dev/log (an overlay on /dev in a private mount namespace, socat
# listening on it), so the host's syslog is never touched.
. "${srcdir:-.}/fleet-functions.sh"
requires socat -V
requires unshare --version
fleet_setup ya yb
mkdir -m 0711 "$R"      # QEMU's user reaches the backup targets
echo 'not a directory' > "$R/yb"
mkdir "$TMPD/up" "$TMPD/work"
: > "$TMPD/syslog"

# The script below runs in its own bash: it gets wait_for from here.
export -f wait_for fail
cat > "$TMPD/run.sh" <<EOS
set -e
mount -t overlay overlay -o lowerdir=/dev,upperdir=$TMPD/up,workdir=$TMPD/work /dev
socat -u UNIX-RECV:/dev/log OPEN:$TMPD/syslog,append &
wait_for 10 "socat listening on /dev/log" test -S /dev/log
rc=0
"$VCKPT" --syslog backup --all --auto --repo "$R" || rc=\$?
kill %1
exit \$rc
EOS
rc=0
unshare -m --propagation private bash "$TMPD/run.sh" > "$TMPD/o" 2> "$TMPD/e" || rc=$?
cat "$TMPD/o" "$TMPD/e" >&2
test "$rc" -eq 1 || fail "backup --all --syslog exited $rc, expected 1"
test ! -e /dev/log || [ -S /dev/log ] || fail "/dev/log appeared on the host"

# One datagram per line, without a newline of its own: split them.
grep -o '<[0-9]*>[^<]*' "$TMPD/syslog" > "$TMPD/lines"
cat "$TMPD/lines" >&2
# daemon (3 << 3) + info (6) = 30, + err (3) = 27.
t='[A-Z][a-z]{2} [ 0-9]{2} [0-9:]{8} vckpt\[[0-9]+\]: '
assert_grep "^<30>${t}start: backup --all --auto --repo $R\$" "$TMPD/lines"
assert_grep "^<30>${t}start: backup --auto --repo $R -- ya\$" "$TMPD/lines"
assert_grep "^<30>${t}backup ya: level full \(.+\)\$" "$TMPD/lines"
assert_grep "^<30>${t}backup ya: backup full-[^ ]+ complete: 16777216 bytes processed, " "$TMPD/lines"
assert_grep "^<27>${t}error: backup yb: $R/yb: not a directory\$" "$TMPD/lines"
assert_grep "^<27>${t}error: backup yb: failed \(exit status 1\)\$" "$TMPD/lines"
assert_grep "^<27>${t}error: end: exit status 1\$" "$TMPD/lines"
