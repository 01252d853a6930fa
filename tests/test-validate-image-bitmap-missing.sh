#!/usr/bin/env bash
# Rule 1: the top image lacks the bitmap of the newest checkpoint:
# refused, with and without --checkpoint.
. "${srcdir:-.}/validate-images-functions.sh"
set -e -x
vi_setup

qemu-img bitmap --remove "$img" c2
refused bitmap-missing
refused bitmap-missing --checkpoint c1
