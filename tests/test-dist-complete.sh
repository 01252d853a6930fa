#!/usr/bin/env bash
# The release tarball (make dist) holds every file of the tree that git
# tracks, but for the git and CI files: a packager building from it has
# every header, schema, test fragment and script (lib/cleanup.h and
# scripts/install-deps.sh were once missing, and only a build from the
# tarball showed it).  Checked on the directory make dist would pack
# (make distdir), without compressing it; .ci/run runs make distcheck.
. "${srcdir:-.}/functions.sh"
set -e -x
requires git --version
requires make --version
top=$abs_top_srcdir
git -C "$top" rev-parse --git-dir >/dev/null 2>&1 ||
    { echo "$0: SKIP: not a git checkout (the files to ship are the ones git tracks)" >&2; exit 77; }

# A make of its own, not a job of the make running the tests; automake's
# distdir must be relative to the top build directory.
rel=$(realpath --relative-to="$abs_top_builddir" "$TMPD/dist")
MAKEFLAGS= MFLAGS= MAKELEVEL= make -s -C "$abs_top_builddir" distdir distdir="$rel" \
    >"$TMPD/make.log" 2>&1 || { cat "$TMPD/make.log" >&2; fail "make distdir failed"; }
test -f "$TMPD/dist/configure"

missing=0
while IFS= read -r -d '' f; do
    case "$f" in
        .gitignore | */.gitignore | .ci/*) continue ;;
    esac
    [ -e "$top/$f" ] || continue            # deleted, not committed yet
    if [ ! -e "$TMPD/dist/$f" ]; then
        echo "not in the release tarball: $f" >&2
        missing=$((missing + 1))
    fi
done < <(git -C "$top" ls-files -c -z)
test "$missing" -eq 0 || fail "$missing tracked files are not in the tarball (EXTRA_DIST or _SOURCES)"
