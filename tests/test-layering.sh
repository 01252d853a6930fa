#!/usr/bin/env bash
# The layering rules of HACKING.md, checked on the sources:
#  - the core library (lib/) never includes a header of the program (src/);
#  - command handlers (src/cmd-*.c) make no libvirt calls and no file-system
#    calls of their own: they parse, call the core once, and print;
#  - the modules of lib/ (a module: NAME.c and NAME.h) include each other
#    without a circle: each sits on one floor;
#  - only the repository (lib/repo*.c) knows its paths: no other file calls
#    vk_repo_path, vk_repo_dir or vk_repo_dirfd.
set -e
top=${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
bad=0

# Headers of the program, by file name.
src_headers=$(cd "$top/src" && ls -- *.h)
for h in $src_headers; do
    if grep -n "#include *[\"<]$h[\">]" "$top"/lib/*.[ch]; then
        echo "$0: FAIL: lib/ includes src/$h" >&2
        bad=1
    fi
done
if grep -n '#include *"\.\./src/' "$top"/lib/*.[ch]; then
    echo "$0: FAIL: lib/ includes a file from src/" >&2
    bad=1
fi

# Calls a handler must leave to the core: libvirt's API (vir...), and the
# C library's file-system and process calls.
fs='open|openat|fopen|fdopen|creat|stat|lstat|fstat|fstatat|access|faccessat|unlink|unlinkat|rename|renameat2?|mkdir|mkdirat|rmdir|opendir|readdir|chmod|fchmod|chown|truncate|ftruncate|link|symlink|readlink|realpath|mkstemp|mkdtemp|flock|fcntl|statvfs|posix_spawnp?|fork|execv[pe]?|system|popen'
for f in "$top"/src/cmd-*.c; do
    # Strip comments and string literals before looking for calls.
    if sed -e 's|/\*.*\*/||g' -e 's|"[^"]*"|""|g' "$f" |
        grep -nE "(^|[^A-Za-z0-9_>.])(vir[A-Z][A-Za-z0-9]*|$fs)[[:space:]]*\(" ; then
        echo "$0: FAIL: $(basename "$f") calls libvirt or the file system itself (above)" >&2
        bad=1
    fi
done

# Circles between lib/ modules, from the #include lines of each module's .c
# and .h: tsort names every circle it finds.
edges=$(cd "$top/lib" && for f in *.[ch]; do
    m=${f%.*}
    sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"/]*\)\.h".*/\1/p' "$f" |
        while read -r h; do
            if [ "$h" != "$m" ] && { [ -f "$h.c" ] || [ -f "$h.h" ]; }; then
                echo "$m $h"
            fi
        done
done | sort -u)
if ! loops=$(printf '%s\n' "$edges" | tsort 2>&1 >/dev/null) || [ -n "$loops" ]; then
    printf '%s\n' "$loops" >&2
    echo "$0: FAIL: a circle between lib/ modules (#include lines; tsort's loops above)" >&2
    bad=1
fi

# The repository's paths stay inside it: others ask for what they want
# (repo.h), not for a path to build on.
for f in "$top"/lib/*.c "$top"/src/*.c; do
    case $(basename "$f") in repo*.c) continue ;; esac
    if sed -e 's|/\*.*\*/||g' "$f" |
        grep -nE '(^|[^A-Za-z0-9_])vk_repo_(path|dir|dirfd)[[:space:]]*\(' ; then
        echo "$0: FAIL: $(basename "$f") calls the repository's path accessors (above)" >&2
        bad=1
    fi
done
exit $bad
