#!/usr/bin/env bash
# The layering rules of HACKING.md, checked on the sources:
#  - the core library (lib/) never includes a header of the program (src/);
#  - command handlers (src/cmd-*.c) make no libvirt calls and no file-system
#    calls of their own: they parse, call the core once, and print.
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
exit $bad
