#!/usr/bin/env bash
# A file back from a real Linux guest's backup taken under its workload:
# files get of the workload's manifest and its files out of a quiesced
# backup gives every file the manifest lists as live, each with the
# checksum the guest recorded; the repository's files are unchanged.
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/lab-guest.sh"
. "${srcdir:-.}/files-functions.sh"
set -e -x
files_requires
lab_guest_requires
lab_start
lab_guest_build

dom=g1
lab_guest_define "$dom"
lab_guest_start "$dom"
lab_guest_workload_start "$dom"
lab_guest_wait_count "$dom" 4
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --quiesce --name k0
n0=$(lab_guest_workload_count "$dom")
lab_guest_wait_count "$dom" $(( n0 + 2 ))
lab_guest_workload_stop "$dom"
sums=$(find "$R/$dom" -name '*.qcow2' -exec sha256sum {} + | sort)

mkdir "$TMPD/got"
files_run 0 files get "$dom" --repo "$R" --at k0 /vda/manifest /vda/w --to "$TMPD/got"
test -s "$TMPD/got/manifest"
# Every live entry: an F line not followed by a D line for its path.
live=$(awk '$1 == "F" { f[$3] = $2 } $1 == "D" { delete f[$3] } END { for (p in f) print f[p], p }' \
       "$TMPD/got/manifest")
test "$(echo "$live" | wc -l)" -ge 4
echo "$live" | while read -r sum path; do
    got=$(sha256sum < "$TMPD/got$path" | cut -d' ' -f1)
    [ "$got" = "$sum" ] || fail "$path: $got, the guest recorded $sum"
done
test "$(find "$R/$dom" -name '*.qcow2' -exec sha256sum {} + | sort)" = "$sums"
