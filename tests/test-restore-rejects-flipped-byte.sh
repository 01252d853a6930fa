#!/usr/bin/env bash
# One flipped byte in the data of the full backup an incremental stacks on:
# restoring the incremental stops with exit 1 naming the damaged file, and
# leaves no image and no temporary file; --no-verify restores anyway.
. "${srcdir:-.}/restore-functions.sh"
rf_setup

f=$(rf_file 0 vda)
off=$(qemu-img map --output=json -f qcow2 "$f" |
      jq '[.[] | select(.data and .offset != null)][0].offset')
test "$off" -gt 0
printf '\x99' | dd of="$f" bs=1 seek=$((off + 100)) conv=notrunc status=none

mkdir "$TMPD/to"
expect_exit 1 rf_vckpt restore "$dom" --repo "$R" --to "$TMPD/to"
grep -q "$(basename "$f"): xxh3-128 mismatch: [0-9a-f]*, the manifest says" "$err"
test -z "$(ls -A "$TMPD/to")" || fail "restore left files behind: $(ls -A "$TMPD/to")"

expect_exit 0 rf_vckpt --json restore "$dom" --repo "$R" --to "$TMPD/to" --no-verify
jq -e '.verified == false' "$out"
test -f "$TMPD/to/vda.qcow2"
rf_no_leftovers "$TMPD/to"
