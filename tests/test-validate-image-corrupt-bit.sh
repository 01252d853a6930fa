#!/usr/bin/env bash
# The corrupt bit (incompatible feature bit 1, byte 79 of the header)
# set: refused (image-corrupt).
. "${srcdir:-.}/validate-images-functions.sh"
set -e -x
vi_setup --image-only

printf '\002' | dd of="$img" bs=1 seek=79 conv=notrunc status=none
refused image-corrupt --full
