#!/usr/bin/env bash
# debian/: `dpkg-buildpackage -us -uc -b` builds a .deb from a copy of the
# source tree (configure and make once, no tests), and the package holds
# the binary, the man page, the schema, the bash completion, the systemd
# units (naming /usr/bin/vckpt) and /etc/default/vckpt: installed into a
# scratch root with dpkg -x, and the binary runs.
. "${srcdir:-.}/functions.sh"
set -e -x
requires dpkg-buildpackage --version
requires command -v dh
requires command -v dh_autoreconf
requires git --version
top=$abs_top_srcdir
git -C "$top" rev-parse --git-dir >/dev/null 2>&1 ||
    { echo "$0: SKIP: not a git checkout (the tree to package is the one git lists)" >&2; exit 77; }

# The tree as git sees it, with the files not committed yet, without what
# a build in place made.
mkdir "$TMPD/src"
(cd "$top" && git ls-files -co --exclude-standard -z) |
    (cd "$top" && tar --null -T - -cf -) | tar -xf - -C "$TMPD/src"
test -x "$TMPD/src/debian/rules"
(cd "$TMPD/src" &&
     DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -us -uc -b) \
    > "$TMPD/build.log" 2>&1 || { tail -50 "$TMPD/build.log" >&2; fail "dpkg-buildpackage failed"; }
deb=$(ls "$TMPD"/vckpt_*_*.deb)
dpkg-deb -I "$deb" > "$TMPD/info"
assert_grep '^ Package: vckpt$' "$TMPD/info"
assert_grep '^ Depends: .*libvirt0.*qemu-utils' "$TMPD/info"

root=$TMPD/root
dpkg -x "$deb" "$root"
for f in usr/bin/vckpt usr/share/man/man1/vckpt.1.gz usr/share/vckpt/manifest.rng \
         usr/share/bash-completion/completions/vckpt \
         lib/systemd/system/vckpt-backup.service lib/systemd/system/vckpt-backup.timer \
         lib/systemd/system/vckpt-prune.service lib/systemd/system/vckpt-prune.timer \
         etc/default/vckpt usr/share/doc/vckpt/examples/vckpt.cron; do
    test -s "$root/$f" || fail "the package lacks /$f"
done
test -x "$root/usr/bin/vckpt"
assert_grep '^ExecStart=/usr/bin/vckpt -q --syslog backup --all --auto ' \
            "$root/lib/systemd/system/vckpt-backup.service"
expect_exit 0 "$root/usr/bin/vckpt" --version
assert_grep '^vckpt [0-9]' "$out"
expect_exit 0 "$root/usr/bin/vckpt" help --synopsis
assert_grep '^vckpt backup DOMAIN\|--all ' "$out"
zcat "$root/usr/share/man/man1/vckpt.1.gz" | grep -q 'RUNS OVER MANY DOMAINS'
# The timer is installed, not enabled: nothing in the maintainer scripts
# enables it.
dpkg-deb -e "$deb" "$TMPD/control"
if grep -q 'enable.*vckpt-backup.timer' "$TMPD/control"/post* 2>/dev/null; then
    # dh's postinst names the unit only to keep an admin's earlier choice.
    grep -q 'was-enabled' "$TMPD/control"/postinst ||
        fail "the package enables the timer on install"
fi
