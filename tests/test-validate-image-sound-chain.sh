#!/usr/bin/env bash
# A sound chain of two checkpoints on a shut-off domain: OK, with and
# without --checkpoint and with --full; the JSON is complete.
. "${srcdir:-.}/validate-images-functions.sh"
set -e -x
vi_setup

ok
ok --checkpoint c1
ok --full
expect_exit 0 vckpt --json validate "$dom" --checkpoint c1
jq -e '.ok and .errors == 0 and .checkpoint == "c1" and .running == false and .domain == "v1"' "$out"
