#!/usr/bin/env bash
# commit killed after the bitmaps (VCKPT_TEST_HOOK=bitmaps:kill) of a
# domain whose definition names its images through a linked directory:
# the journal holds the resolved paths, the definition the linked ones.
# Before the fix the same command refused to finish it ("now uses ...,
# which the interrupted commit did not expect") and every backup stayed
# refused; now the same command finishes it: exit 0, the disk uses the
# base, no journal, validate clean, and an incremental restores bit-exact.
. "${srcdir:-.}/chain-functions.sh"

cf_setup
cf_linked_overlay
killed_at bitmaps commit "$dom" --disk vda --top "$top"
expect_exit 4 vckpt --json validate "$dom"
assert_finding "$out" image-operation-pending

expect_exit 0 vckpt commit "$dom" --disk vda --top "$top"
cf_committed
