#!/usr/bin/env bash
# commit of a domain whose definition names its images through a linked
# directory ($TMPD/imgs -> the lab's images): vckpt resolves the directory,
# the definition keeps the linked name, and the two name the same files.
# Before the fix the commit merged the bitmaps and the data, then refused
# to switch the definition ("its definition changed meanwhile") and left
# a journal that every later run tripped over.  Now: exit 0, the disk uses
# the base, no journal, validate clean, and an incremental from the
# overlay's checkpoint restores bit-exact.
. "${srcdir:-.}/chain-functions.sh"

cf_setup
cf_linked_overlay
expect_exit 0 vckpt --json commit "$dom" --disk vda --top "$top"
jq -e '(.disks[0].bitmaps | sort) == ["c1", "c2", "c3"]' "$out"
cf_committed
