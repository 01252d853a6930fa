#!/usr/bin/env bash
# Without restic in PATH, every command on a copy in restic refuses at once
# with exit status 3, naming the package to install, and leaves nothing
# behind.
. "${srcdir:-.}/restic-functions.sh"
mkdir "$TMPD/bin" "$TMPD/to"
# A PATH of everything but restic (the tests' tools, valgrind...).
IFS=: read -r -a dirs <<<"$PATH"
for d in "${dirs[@]}"; do
    for f in "$d"/*; do
        [ -e "$f" ] || continue          # an empty directory's unmatched glob
        b=${f##*/}
        [ "$b" = restic ] || [ -e "$TMPD/bin/$b" ] || [ -L "$TMPD/bin/$b" ] || ln -s "$f" "$TMPD/bin/$b"
    done
done
if PATH=$TMPD/bin command -v restic; then
    fail "restic is still in PATH"
fi
rs_init
from=(--from "restic:$RR" --password-file "$RP")

check ()
{
    PATH=$TMPD/bin expect_exit 3 "$@"
    assert_grep 'restic is not installed .no restic in PATH.: install the package restic' "$err"
}
check vckpt list-backups "$dom" "${from[@]}"
check vckpt verify "$dom" "${from[@]}"
check vckpt restore "$dom" "${from[@]}" --to "$TMPD/to"
check vckpt prune "$dom" "${from[@]}" --keep-last 2
check vckpt copy "$dom" --repo "$TMPD/repo" --to "restic:$RR" --password-file "$RP"
assert_eq "" "$(ls -A "$TMPD/to")" "what restore left in --to"
# With restic in PATH the same repository answers: not found, no copy yet.
expect_exit 3 vckpt list-backups "$dom" "${from[@]}"
assert_grep "no copy of domain 'web 1' in restic:" "$err"
