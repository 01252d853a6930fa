#!/usr/bin/env bash
# checkpoint redefine FILE where FILE is a FIFO (also through a symlink),
# /dev/zero or a directory: refused at once with a clear message and exit 1,
# nothing is redefined.  A FIFO nobody writes to used to hang vckpt.
. "${srcdir:-.}/functions.sh"
set -e -x
requires timeout --version
lab_start

dom=redef
lab_domain_define "$dom" --disk 64M
lab_domain_start "$dom"
expect_exit 0 vckpt checkpoint create "$dom" c1
expect_exit 0 vckpt checkpoint dumpxml "$dom" c1
cp "$out" "$TMPD/c1.xml"
expect_exit 0 vckpt checkpoint delete "$dom" c1 --metadata-only

mkfifo "$TMPD/fifo"
ln -s "$TMPD/fifo" "$TMPD/fifo-link"
mkdir "$TMPD/dir"
for f in "$TMPD/fifo" "$TMPD/fifo-link" /dev/zero "$TMPD/dir"; do
    # timeout: a regression fails the test instead of hanging it.
    expect_exit 1 timeout 60 "$VCKPT" checkpoint redefine "$dom" "$TMPD/c1.xml" "$f"
    assert_grep "^vckpt: checkpoint redefine $dom: $f: not a regular file \((a FIFO|a character device|a directory)\)$" "$err"
    test "$(wc -l < "$err")" -eq 1 || fail "one message expected"
    test -z "$(virsh -q checkpoint-list "$dom" --name)" || fail "a checkpoint was redefined"
done
# The regular file alone is fine.
expect_exit 0 vckpt checkpoint redefine "$dom" "$TMPD/c1.xml"
test "$(virsh -q checkpoint-list "$dom" --name)" = c1
