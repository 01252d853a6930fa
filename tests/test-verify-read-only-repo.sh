#!/usr/bin/env bash
# verify works on a repository mounted read-only (a read-only bind mount) and
# changes nothing in a writable one.
. "${srcdir:-.}/restore-functions.sh"
rf_setup

find "$R" -printf '%p %s %T@ %m\n' | sort > "$TMPD/before"
expect_exit 0 rf_vckpt --json verify "$dom" --repo "$R"
jq -e '.ok and .errors == 0' "$out"
find "$R" -printf '%p %s %T@ %m\n' | sort | diff "$TMPD/before" -

mkdir "$TMPD/ro"
mount --bind "$R" "$TMPD/ro"
cleanup_fn umount -l "$TMPD/ro"
mount -o remount,bind,ro "$TMPD/ro"
if touch "$TMPD/ro/$dom/x" 2>/dev/null; then fail "the bind mount is writable"; fi
expect_exit 0 rf_vckpt --json verify "$dom" --repo "$TMPD/ro"
jq -e '.ok and .errors == 0 and .backups == 2' "$out"
# Without a lock file on a read-only repository too.
umount "$TMPD/ro"
rm "$R/$dom/lock"
mount --bind "$R" "$TMPD/ro"
mount -o remount,bind,ro "$TMPD/ro"
expect_exit 0 rf_vckpt --json verify "$dom" --repo "$TMPD/ro"
jq -e '.ok and .errors == 0' "$out"
