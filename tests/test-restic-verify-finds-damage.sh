#!/usr/bin/env bash
# A damaged restic repository: a byte flipped in the largest pack (disk
# data) is found by verify --from (restic check, which reads no data, does
# not see it; restic dump fails on that file: copy-unreadable, exit 1; the
# other files are still checked), and restore --from
# of a point that reads it fails and leaves nothing in --to.
. "${srcdir:-.}/restic-functions.sh"
bf_setup
rs_init
rs_copy
pack=$(find "$RR/data" -type f -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2)
size=$(stat -c %s "$pack")
chmod u+w "$pack"
printf '\xff' | dd of="$pack" bs=1 seek=$(( size / 2 )) conv=notrunc status=none
# The restic cache must not hide the damage.
rm -rf "$RESTIC_CACHE_DIR"

expect_exit 1 vckpt --json verify "$dom" --from "restic:$RR" --password-file "$RP"
jq -e '.errors >= 1 and .files == 10' "$out"
jq -e '[.findings[] | select(.code == "copy-unreadable" and .fix == "inspect" and
                             (.message | test("ciphertext verification failed")))] |
       length >= 1' "$out"
assert_grep 'problems? found in the copy' "$err"

mkdir "$TMPD/to"
rc=0
for i in 0 1 2 3 4; do
    vckpt restore "$dom" --from "restic:$RR" --password-file "$RP" --at "k$i" \
          --to "$TMPD/to" >"$TMPD/o$i" 2>"$TMPD/e$i" || rc=$?
    if [ "$rc" -ne 0 ]; then
        cat "$TMPD/e$i" >&2
        break
    fi
    rm -f "$TMPD/to"/*.qcow2
done
assert_eq 1 "$rc" "the exit status of a restore through the damaged pack"
assert_eq "" "$(ls -A "$TMPD/to")" "what restore left in --to"
