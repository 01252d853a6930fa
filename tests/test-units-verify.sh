#!/usr/bin/env bash
# The systemd units of contrib/ pass `systemd-analyze verify` (no warning
# either), with ExecStart= naming the vckpt just built; the check can fail:
# a unit with a misspelt key is refused.
. "${srcdir:-.}/functions.sh"
set -e -x
requires systemd-analyze --version
c=$abs_top_srcdir/contrib
u=$TMPD/units
mkdir "$u"
for s in vckpt-backup vckpt-prune; do
    sed -e "s|@bindir@|$abs_top_builddir/src|g" "$c/$s.service.in" > "$u/$s.service"
done
cp "$c/vckpt-backup.timer.src" "$u/vckpt-backup.timer"
cp "$c/vckpt-prune.timer" "$u/vckpt-prune.timer"
grep -q "^ExecStart=$abs_top_builddir/src/vckpt -q --syslog backup --all --auto " "$u/vckpt-backup.service"

expect_exit 0 systemd-analyze verify --man=no "$u"/*
test ! -s "$err" || fail "systemd-analyze warns: $(cat "$err")"

# What the service runs is a command line vckpt accepts.
sed -n 's/^ExecStart=[^ ]* //p' "$u/vckpt-backup.service" |
    sed -e 's/\${VCKPT_JOBS}/2/' -e "s|\${VCKPT_REPO}|$TMPD/repo|" > "$TMPD/cmdline"
read -r -a words < "$TMPD/cmdline"
expect_exit 0 vckpt "${words[@]}" --help

# The installed unit names the installed program.
grep -q "^ExecStart=.*/bin/vckpt " "$abs_top_builddir/contrib/vckpt-backup.service"

# A broken unit is refused: the check above can fail.
sed -e 's/^OnCalendar=/OnCalender=/' "$c/vckpt-backup.timer.src" > "$u/vckpt-backup.timer"
expect_exit 1 systemd-analyze verify --man=no "$u/vckpt-backup.timer" "$u/vckpt-backup.service"
