#!/usr/bin/env bash
# The appliance never outlives its command: --timeout kills it (exit 1,
# saying so) and leaves nothing; SIGTERM stops it (exit 6); a vckpt killed
# with SIGKILL while its appliance boots leaves the appliance to
# libguestfs's recovery process, which ends it, and the next command
# removes the private directory the killed one left.  No appliance is let
# finish its start.
. "${srcdir:-.}/files-functions.sh"
set -e -x
files_setup
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name k0

# the appliance's QEMU among PID's children, or nothing
appliance_of ()
{
    local c
    for c in $(cat "/proc/$1/task/"*/children 2>/dev/null); do
        case $(readlink "/proc/$c/exe" 2>/dev/null) in
            *qemu-system*) echo "$c"; return 0 ;;
        esac
    done
    return 1
}
gone () { ! kill -0 "$1" 2>/dev/null; }

files_run 1 files ls "$dom" --repo "$R" --timeout 2 /
assert_grep 'ran longer than --timeout 2 s and was killed' "$err"
if ls "$TMPD" | grep -q '^vckpt-files-'; then fail "a private directory was left"; fi

# A stop signal while the appliance boots.
"$VCKPT" files ls "$dom" --repo "$R" / > "$TMPD/o" 2> "$TMPD/e" &
pid=$!
wait_for 60 "the appliance's start" appliance_of "$pid"
qemu=$(appliance_of "$pid")
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
cat "$TMPD/e" >&2
test "$rc" = 6 || fail "SIGTERM: exit $rc, expected 6"
grep -q 'interrupted by signal 15' "$TMPD/e"
gone "$qemu" || fail "the appliance outlived its command"
if ls "$TMPD" | grep -q '^vckpt-files-'; then fail "a private directory was left"; fi

# SIGKILL: libguestfs's recovery process ends the appliance.  The socket
# directory libguestfs made in /tmp stays (the man page says so): the test
# removes it, found in the appliance's command line.
"$VCKPT" files ls "$dom" --repo "$R" / > "$TMPD/o" 2> "$TMPD/e" &
pid=$!
wait_for 60 "the appliance's start" appliance_of "$pid"
qemu=$(appliance_of "$pid")
sockdir=$(tr '\0' '\n' < "/proc/$qemu/cmdline" |
          sed -n 's|^socket,path=\(/tmp/libguestfs[^/]*\)/guestfsd.sock,.*|\1|p')
[ -n "$sockdir" ] && cleanup_fn rm -rf "$sockdir"
kill -KILL "$pid"
wait "$pid" || true
wait_for 10 "the end of the killed command's appliance" gone "$qemu"
ls "$TMPD" | grep -q '^vckpt-files-' || fail "the killed command left no private directory"
files_run 1 files ls "$dom" --repo "$R" --timeout 1 /
assert_grep 'removed .*/vckpt-files-.*, which a killed vckpt files left' "$err"
if ls "$TMPD" | grep -q '^vckpt-files-'; then fail "a private directory was left"; fi
