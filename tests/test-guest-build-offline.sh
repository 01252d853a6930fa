#!/usr/bin/env bash
# The real guest builds offline once it was built: with apt-get and
# apt-cache failing (no network, apt's answer not cached), lab_guest_build
# takes the last package set from the cache and finds its build; with an
# empty cache it skips (exit 77) and says why.
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/lab-guest.sh"
set -e -x
lab_guest_requires
lab_guest_build                 # downloads only if the cache is empty
kernel=$LAB_GUEST_KERNEL

# A copy of the cache (hard links, or a plain copy when the cache is on
# another file system than $TMPD) without apt's cached answers, and apt
# tools that fail as without network.
cp -al "$LAB_GUEST_CACHE" "$TMPD/cache" 2>/dev/null || {
    rm -rf "$TMPD/cache"
    cp -a "$LAB_GUEST_CACHE" "$TMPD/cache"
}
rm -f "$TMPD/cache"/resolved-*
mkdir "$TMPD/bin"
for t in apt-get apt-cache; do
    printf '#!/bin/sh\n[ "$1" = --version ] && exit 0\necho "%s: offline" >&2\nexit 100\n' "$t" \
           >"$TMPD/bin/$t"
    chmod +x "$TMPD/bin/$t"
done

(
    PATH=$TMPD/bin:$PATH
    LAB_GUEST_CACHE=$TMPD/cache
    unset LAB_GUEST_KERNEL LAB_GUEST_INITRD
    lab_guest_build
    echo "$LAB_GUEST_KERNEL" >"$TMPD/kernel"
) 2>"$TMPD/err"
cat "$TMPD/err" >&2
assert_eq "$TMPD/cache/${kernel#"$LAB_GUEST_CACHE"/}" "$(cat "$TMPD/kernel")" "the cached build"
test -f "$(cat "$TMPD/kernel")"
assert_grep 'trying the cache' "$TMPD/err"

rc=0
(
    PATH=$TMPD/bin:$PATH
    LAB_GUEST_CACHE=$TMPD/empty-cache
    lab_guest_build
) 2>"$TMPD/err" || rc=$?
cat "$TMPD/err" >&2
assert_eq 77 "$rc" "exit status without cache and network"
assert_grep 'SKIP: no guest packages cached in .*empty-cache and apt-get download failed \(no network\?\)' "$TMPD/err"
