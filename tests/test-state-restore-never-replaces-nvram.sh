#!/usr/bin/env bash
# restore --define NEW never replaces a file named NEW_VARS.fd in --to: it
# fails (status 1), the file keeps its bytes, and nothing else is left (no
# image, no domain).
. "${srcdir:-.}/state-functions.sh"
lab_start
sf_define "$dom"
expect_exit 0 vckpt backup "$dom" --full --name c1 --repo "$R"
mkdir "$TMPD/to"
printf 'not yours\n' > "$TMPD/to/new_VARS.fd"
expect_exit 1 vckpt restore "$dom" --repo "$R" --to "$TMPD/to" --define new
assert_grep "new_VARS.fd: already exists" "$err"
assert_eq "not yours" "$(cat "$TMPD/to/new_VARS.fd")" "the existing file"
assert_eq "new_VARS.fd" "$(ls -A "$TMPD/to")" "files in --to"
if virsh dominfo new >/dev/null 2>&1; then
    fail "the failed restore defined domain new"
fi
