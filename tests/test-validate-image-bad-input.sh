#!/usr/bin/env bash
# Bad input: an unknown domain (exit 3), --checkpoint with --full and an
# empty checkpoint name (exit 2), refused before use.
. "${srcdir:-.}/validate-images-functions.sh"
set -e -x
vi_setup --image-only

expect_exit 3 vckpt validate nodom
expect_exit 2 vckpt validate "$dom" --checkpoint c1 --full
expect_exit 2 vckpt validate "$dom" --checkpoint ''
