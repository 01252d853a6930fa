#!/bin/bash
# Check vckpt on Debian 13 (trixie: libvirt 11, QEMU 10, gcc 14, clang 19)
# from a Debian 12 host, as root: build a minimal trixie root file system
# with mmdebstrap from Debian's archive (cached), copy a clean tree of the
# sources into a fresh copy of it, and run there the command README.md
# gives a newcomer (scripts/readme-command.sh), then a clang build with
# --enable-werror.  .ci/run runs it after the Debian 12 suite.
#
# Usage: scripts/check-debian13.sh [--readme NAME] [--no-clang] [--keep|--root DIR]
#        scripts/check-debian13.sh [--keep|--root DIR] -- COMMAND [ARGS...]
#   --readme NAME  the README command to run: test-command (the default,
#                  the whole suite) or demo-command
#   --no-clang     skip the clang build after the README command
#   --keep         keep the root afterwards (its path is printed; the next
#                  run without --root DIR removes it)
#   --root DIR     work in DIR, a root a --keep run left (packages installed
#                  stay; the tree is copied in anew), and keep it
#   -- COMMAND     run COMMAND in the copied tree instead (e.g. -- bash)
#
# Isolation: the root is entered in private mount and PID namespaces
# (unshare), bound onto itself (the lab's own `unshare --propagation
# private` needs / to be a mount point), with its own /proc and /run and the
# host's /sys and /dev, and made the root with pivot_root, not
# chroot: the lab's `nsenter --mount=` resets the root to its namespace's
# root mount, which under a chroot would be the host's / (and the host's
# libvirtd would start).  Nothing is mounted on the host; when the command
# ends, every process left in the root (libvirtd, QEMU) dies with its PID
# namespace, and the copy is removed.
#
# Cache ($VCKPT_TRIXIE_CACHE, default /var/cache/vckpt-trixie):
#   trixie-minbase.tar  the mmdebstrap output, made under a temporary name
#                       and renamed, so a killed build never leaves half a
#                       root; rebuilt when older than $VCKPT_TRIXIE_MAX_AGE
#                       days (14)
#   apt-archives/       the .debs apt downloads in the root (install-deps)
#   guest/              the real test guest's packages and builds
#                       (LAB_GUEST_CACHE of tests/lab-guest.sh)
#   run.*               the copy of the root a run works in
# Environment:
#   VCKPT_TRIXIE_CACHE   the cache directory (above)
#   VCKPT_TRIXIE_MAX_AGE days after which the root is built anew (14)
#   VCKPT_TRIXIE_MIRROR  mirror arguments for mmdebstrap, separated by
#                        blanks (default: none, mmdebstrap's own: Debian's
#                        archive with trixie-updates and trixie-security)
#   VCKPT_TRIXIE_COUNTS  a file to write the suite's "PASSED FAILED
#                        SKIPPED" to (.ci/run adds them up)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cache=${VCKPT_TRIXIE_CACHE:-/var/cache/vckpt-trixie}
max_age=${VCKPT_TRIXIE_MAX_AGE:-14}
suite=trixie
readme=test-command
clang=1
keep=
reuse=
cmd=()

die() { echo "check-debian13: $*" >&2; exit 1; }
say() { echo "check-debian13: $*" >&2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --readme) readme=${2:?--readme needs a name}; shift 2 ;;
        --no-clang) clang=; shift ;;
        --keep) keep=1; shift ;;
        --root) reuse=${2:?--root needs a directory}; keep=1; shift 2 ;;
        --) shift; cmd=("$@"); break ;;
        *) die "unknown argument '$1' (see the top of $0)" ;;
    esac
done
[ "$(id -u)" -eq 0 ] || die "must run as root (mount and PID namespaces)"
git -C "$top" rev-parse --git-dir >/dev/null 2>&1 ||
    die "$top is not a git checkout (the tree copied in is the one git lists)"
if ! command -v mmdebstrap >/dev/null; then
    say "installing mmdebstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        mmdebstrap >/dev/null || die "cannot install mmdebstrap"
fi

mkdir -p "$cache/apt-archives/partial" "$cache/guest"
# One run at a time: the runs share the cache (apt's archive lock too).
exec {lockfd}>"$cache/lock"
if ! flock -n "$lockfd"; then
    say "waiting for another run (lock $cache/lock)"
    flock "$lockfd"
fi
# Copies a killed run left behind (no mounts: they lived in its namespace).
for d in "$cache"/run.*; do
    [ -d "$d" ] && [ "$d" != "$reuse" ] && rm -rf --one-file-system "$d"
done

base=$cache/$suite-minbase.tar
if [ ! -f "$base" ] || [ -n "$(find "$base" -mtime +"$max_age")" ]; then
    say "building the $suite root file system with mmdebstrap (a few minutes)"
    rm -f "$base".tmp.*
    # shellcheck disable=SC2086 # the mirrors are separate arguments
    mmdebstrap --quiet --variant=minbase --format=tar "$suite" "$base.tmp.$$" \
        ${VCKPT_TRIXIE_MIRROR:-} >&2 || { rm -f "$base.tmp.$$"; die "mmdebstrap failed"; }
    mv -f "$base.tmp.$$" "$base"
fi

if [ -n "$reuse" ]; then
    root=$(cd "$reuse" && pwd)
    [ -x "$root/usr/bin/apt-get" ] || die "$reuse is not a root a --keep run left"
    rm -rf --one-file-system "$root/root/vckpt" "$root/root/suite-logs"
else
    root=$(mktemp -d "$cache/run.XXXXXX")
fi
cleanup() {
    if [ -n "$keep" ]; then
        say "kept the root in $root"
    else
        rm -rf --one-file-system "$root"
    fi
}
trap cleanup EXIT
[ -n "$reuse" ] || tar -xf "$base" -C "$root"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
# The tree as git sees it, with the files not committed yet, without
# what a build in place made (as tests/test-deb-build-install.sh copies it).
mkdir "$root/root/vckpt"
(cd "$top" && git ls-files -co --exclude-standard -z |
     tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$root/root/vckpt"
# Committed there as one snapshot, so that the tests that ask git which
# files are the tree's (the .deb build, the tarball's completeness) run.
git -C "$root/root/vckpt" init -q
git -C "$root/root/vckpt" add -A
git -C "$root/root/vckpt" -c user.name=check-debian13 -c user.email=check-debian13@localhost \
    commit -q --no-verify -m "the tree under test"

if [ ${#cmd[@]} -eq 0 ]; then
    readme_cmd=$("$top/scripts/readme-command.sh" "$readme")
    inner="set -e; echo \"+ \$0\"; $readme_cmd"
    if [ -n "$clang" ]; then
        # The same sources build warning-free with the release's clang.
        # distclean removes the suite's logs: their summaries are kept
        # aside first, for the counts below.
        inner="$inner
mkdir -p /root/suite-logs/tests /root/suite-logs/fuzz
cp tests/test-suite.log /root/suite-logs/tests/ 2>/dev/null || true
cp fuzz/test-suite.log /root/suite-logs/fuzz/ 2>/dev/null || true
echo '+ clang build with --enable-werror'
make -s distclean >/dev/null
./configure -q --enable-werror CC=clang
make -s -j2 >/dev/null
echo 'clang build: ok'"
    fi
    cmd=(bash -c "$inner" "$readme_cmd")
fi

say "running in $root: ${cmd[*]}"
rc=0
# shellcheck disable=SC2016 # expanded by the inner shells
unshare --mount --propagation private --pid --fork --kill-child -- /bin/sh -c '
    set -e
    r=$1 cache=$2
    shift 2
    mount --bind "$r" "$r"
    mount -t proc proc "$r/proc"
    mount --rbind /sys "$r/sys"
    mount --rbind /dev "$r/dev"
    mount -t tmpfs -o mode=0755 tmpfs "$r/run"
    mount --bind "$cache/apt-archives" "$r/var/cache/apt/archives"
    mkdir -p "$r/var/cache/vckpt-guest"
    mount --bind "$cache/guest" "$r/var/cache/vckpt-guest"
    mkdir -p "$r/.old-root"
    cd "$r"
    pivot_root . .old-root
    exec chroot . /bin/sh -c "umount -l /.old-root && rmdir /.old-root && cd /root/vckpt &&
        exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin HOME=/root \
            TERM=dumb LANG=C.UTF-8 CI=\"\${CI:-}\" LAB_GUEST_CACHE=/var/cache/vckpt-guest \"\$@\"" sh "$@"
' sh "$root" "$cache" "${cmd[@]}" || rc=$?

# The suite's logs: in the tree, or (the clang build's distclean removed
# them after a suite that passed) the summaries kept aside.
logs=$root/root/vckpt
[ -f "$logs/tests/test-suite.log" ] || logs=$root/root/suite-logs
if [ -f "$logs/tests/test-suite.log" ]; then
    "$top/scripts/suite-summary.sh" "$logs" "debian 13"
    if [ -n "${VCKPT_TRIXIE_COUNTS:-}" ]; then
        "$top/scripts/suite-summary.sh" --counts "$logs" >"$VCKPT_TRIXIE_COUNTS"
    fi
fi
# Packages not downloaded again for two months are not needed any more.
find "$cache/apt-archives" -maxdepth 1 -name '*.deb' -mtime +60 -delete
[ "$rc" -eq 0 ] || say "failed (exit $rc)"
exit "$rc"
