#!/usr/bin/env bash
# Usage errors of verify --boot and restore --instant/--finish are status 2,
# found before anything is connected to or created.
. "${srcdir:-.}/functions.sh"
set -e -x
R=$TMPD/repo
mkdir "$TMPD/to"
expect_exit 2 vckpt verify d1 --repo "$R" --at c1
grep -q -- "--at, --timeout and --marker go with --boot" "$err"
expect_exit 2 vckpt verify d1 --repo "$R" --marker READY
expect_exit 2 vckpt verify --all --boot --repo "$R"
grep -q -- "--boot and --all cannot be used together" "$err"
expect_exit 2 vckpt verify d1 --boot --timeout 0 --repo "$R"
expect_exit 2 vckpt restore d1 --instant --to "$TMPD/to" --repo "$R"
grep -q -- "--instant needs --define NAME" "$err"
expect_exit 2 vckpt restore d1 --instant --define n1 --disk vda --to "$TMPD/to" --repo "$R"
expect_exit 2 vckpt restore d1 --instant --finish --define n1 --to "$TMPD/to" --repo "$R"
expect_exit 2 vckpt restore --finish n1 --at c1 --to "$TMPD/to" --repo "$R"
grep -q -- "--finish takes only --to" "$err"
expect_exit 2 vckpt restore --finish n1 --repo "$R"
grep -q -- "--to is required" "$err"
test ! -e "$R"
test -z "$(ls -A "$TMPD/to")"
