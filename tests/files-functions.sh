# vckpt test suite: shared setup of the file-level restore scenarios
# (test-files-*.sh, one scenario per file).
#
# Usage, at the top of a scenario:
#
#   #!/usr/bin/env bash
#   . "${srcdir:-.}/files-functions.sh"
#   set -e -x
#   files_setup [--disk SIZE]...
#
# files_setup skips (77) when vckpt was built without libguestfs, starts a
# lab with the shut-off domain $dom ("fdom"; by default one 64 MiB qcow2
# disk vda) and sets the repository $R.  The guest's data is written into
# the shut-off domain's images with qemu-img (its persistent bitmaps record
# it, as the offline job needs), and backed up by the offline job: no guest
# OS is needed.  Each appliance start costs about 15 s under TCG: a
# scenario starts as few as it can (one 'files get' with several paths).
#
# Functions:
#   files_requires                 skip (77) when built without libguestfs
#   ext4_image RAW SIZE DIR        a whole-disk ext4 file system holding
#                                  DIR's tree, made on the host (mke2fs -d:
#                                  no appliance, nothing mounted)
#   put_raw DISK RAW               write RAW over disk DISK of $dom
#   files_run CODE ARGS...         vckpt ARGS with expect_exit CODE, except
#                                  that an appliance that cannot start here
#                                  (exit 4, and libguestfs-test-tool fails
#                                  too) skips the test (77)
#   same_tree A B                  the trees A and B hold the same names,
#                                  types, contents, link targets, modes
#                                  (MASK applied to B's source: see below)
#                                  and modification times

. "${srcdir:-.}/functions.sh"
requires_root
requires mke2fs -V
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}
# vckpt's private directories go into the test's own; libguestfs keeps
# its appliance (built once, about 700 MB) where it would anyway.
export LIBGUESTFS_CACHEDIR=${LIBGUESTFS_CACHEDIR:-${TMPDIR:-/var/tmp}}
export TMPDIR=$TMPD

dom=fdom
R=$TMPD/repo

# Skip (77) when vckpt was built without libguestfs (the command says so,
# exit 4).
files_requires ()
{
    local rc=0
    "$VCKPT" files ls nosuchdomain --repo "$TMPD/none" > "$TMPD/probe" 2>&1 || rc=$?
    if grep -q 'built without libguestfs' "$TMPD/probe"; then
        [ "$rc" = 4 ] || fail "built without libguestfs: exit $rc, expected 4"
        echo "$0: SKIP: vckpt was built without libguestfs" >&2
        exit 77
    fi
}

files_setup ()
{
    local a=()
    while [ $# -gt 0 ]; do
        case $1 in
            --disk) a+=(--disk "$2"); shift 2 ;;
            *) fail "files_setup: unknown option $1" ;;
        esac
    done
    [ ${#a[@]} -gt 0 ] || a=(--disk 64M)
    files_requires
    lab_start
    lab_domain_define "$dom" "${a[@]}"
}

ext4_image ()
{
    rm -f "$1"
    truncate -s "$2" "$1"
    mke2fs -q -F -t ext4 -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 -d "$3" "$1" ||
        fail "mke2fs -d $3 failed"
}

put_raw ()
{
    [ "$(lab_domain_state "$dom")" = "shut off" ] || fail "put_raw: $dom is running"
    _lab_img qemu-img convert -n -f raw -O qcow2 "$2" "$(lab_disk_path "$dom" "$1")" ||
        fail "put_raw: cannot write $2 over disk $1"
}

files_run ()
{
    local want=$1 rc=0
    shift
    out="$TMPD/out"
    err="$TMPD/err"
    vckpt "$@" >"$out" 2>"$err" || rc=$?
    echo "--- exit status $rc; stdout:" >&2
    cat "$out" >&2
    echo "--- stderr:" >&2
    cat "$err" >&2
    echo "---" >&2
    if [ "$rc" = 4 ] && grep -q 'appliance cannot start' "$err" && [ "$want" != 4 ]; then
        if ! libguestfs-test-tool > "$TMPD/test-tool.log" 2>&1; then
            echo "$0: SKIP: the libguestfs appliance cannot start here (libguestfs-test-tool fails)" >&2
            exit 77
        fi
        fail "vckpt says the appliance cannot start, but libguestfs-test-tool starts it"
    fi
    [ "$rc" = "$want" ] || fail "'vckpt $*' exited with $rc, expected $want"
}

# same_tree SRC GOT [--owner]
#
# GOT holds what SRC holds: the same names (any bytes), types, contents
# byte for byte, link targets and modification times (seconds; not of
# links), and modes: without --owner what 'files get' makes of SRC's (a
# file keeps its owner bits, a directory is 0700), with it SRC's own.
same_tree ()
{
    python3 - "$@" <<'PY' || fail "trees $1 and $2 differ"
import os, stat, sys
src, got, owner = sys.argv[1], sys.argv[2], len(sys.argv) > 3

def walk(root, expect):
    r = {}
    for dp, dns, fns in os.walk(root):
        for n in dns + fns:
            p = os.path.join(dp, n)
            rel = os.path.relpath(p, root).encode("utf-8", "surrogateescape")
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                r[rel] = ("l", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                m = st.st_mode & 0o7777
                r[rel] = ("d", oct(0o700 if expect and not owner else m), int(st.st_mtime))
            elif stat.S_ISREG(st.st_mode):
                m = st.st_mode & 0o7777
                with open(p, "rb") as fh:
                    data = fh.read()
                r[rel] = ("f", oct(m & 0o700 if expect and not owner else m),
                          int(st.st_mtime), len(data), hash(data))
            else:
                r[rel] = ("?",)
    return r

a, b = walk(src, True), walk(got, False)
bad = 0
for k in sorted(set(a) | set(b)):
    if a.get(k) != b.get(k):
        print("differs: %r: %r against %r" % (k, a.get(k), b.get(k)), file=sys.stderr)
        bad += 1
print("%d entries compared, %d differ" % (len(a), bad), file=sys.stderr)
sys.exit(1 if bad or not a else 0)
PY
}
