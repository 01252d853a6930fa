#!/usr/bin/env bash
# Truncated and overwritten qcow2 headers: a clear finding
# (image-unreadable), never a crash.
. "${srcdir:-.}/validate-images-functions.sh"
set -e -x
vi_setup --image-only

truncate -s 50 "$img"
refused image-unreadable --full
restore
printf 'XXXX' | dd of="$img" conv=notrunc status=none
refused image-unreadable --full
