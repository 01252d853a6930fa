#!/usr/bin/env bash
# checkpoint list: text (times filtered) against the golden file, JSON,
# --tree (text against its golden file, and JSON), --roots, --leaves,
# --parent.
. "${srcdir:-.}/checkpoint-functions.sh"
set -e -x
ck_setup

expect_exit 0 vckpt checkpoint list "$dom"
sed -E -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} [+-][0-9]{4}/TIME                     /' \
    "$out" > "$TMPD/list"
diff -u "$srcdir/golden/checkpoint-list.txt" "$TMPD/list"
expect_exit 0 vckpt checkpoint list "$dom" --json
test "$(jq -r '[.[].name] | join(" ")' "$out")" = "c1 c2 c3"
test "$(jq -r '.[1].parent' "$out")" = c1
test "$(jq -r '.[0].parent' "$out")" = null
test "$(jq -r '.[0].description' "$out")" = 'first <one>'
test "$(jq -r '[.[1].disks[] | "\(.name)=\(.checkpoint)"] | join(",")' "$out")" = "vda=bitmap,vdb=no"
test "$(jq -r '.[0].creation_time | type' "$out")" = number

expect_exit 0 vckpt checkpoint list "$dom" --tree
diff -u "$srcdir/golden/checkpoint-tree.txt" "$out"
expect_exit 0 vckpt --json checkpoint list "$dom" --tree
test "$(jq -r '.[0].name, .[0].children[0].name, .[0].children[0].children[0].name' "$out" | tr '\n' ' ')" = "c1 c2 c3 "
expect_exit 0 vckpt --json checkpoint list "$dom" --roots
test "$(jq -r '[.[].name] | join(" ")' "$out")" = c1
expect_exit 0 vckpt --json checkpoint list "$dom" --leaves
test "$(jq -r '[.[].name] | join(" ")' "$out")" = c3
expect_exit 0 vckpt --json checkpoint list "$dom" --parent
test "$(jq -r '[.[].name] | join(" ")' "$out")" = "c1 c2"
