#!/usr/bin/env bash
# validate --all validates every domain in the one vckpt process (the log
# has one "start:" line, not one per domain), and one domain's failure
# stays its own: with a domain whose image is gone, one whose qcow2 header
# points outside the file and one undefined between the listing and its
# validation, the healthy domain's result is clean and complete, each
# failing one has its own finding or exit status, and the run exits with
# the most serious status (4).
. "${srcdir:-.}/fleet-functions.sh"
fleet_setup xa xb xc xd
virsh -q checkpoint-create-as xa c1 >/dev/null

# One process: the log of a healthy run has one start line.
expect_exit 0 vckpt --log-file "$TMPD/log" validate --all
assert_grep '^xa +ok +0 +0 ' "$out"
assert_grep '^4 domains: 4 valid, 0 failed$' "$out"
test "$(grep -c 'start: validate' "$TMPD/log")" -eq 1 ||
    fail "validate --all ran more than one vckpt process"

# xb: its image is gone.  xc: its header's backing file offset and size
# point far beyond the end of the file (QEMU keeps its own copy of the
# header; only the validator reads this one).
rm "$(lab_disk_path xb vda)"
printf '\000\000\000\000\377\377\377\000\000\000\004\000' |
    dd of="$(lab_disk_path xc vda)" bs=1 seek=8 conv=notrunc status=none

# xd: undefined once the domains are listed, before they are validated.
VCKPT_TEST_HOOK=all-listed vckpt --json validate --all > "$TMPD/o" 2> "$TMPD/e" &
bg=$!
stopped_pid ()
{
    local p
    for p in "$bg" $(cat "/proc/$bg/task/$bg/children" 2>/dev/null); do
        if [ "$(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null)" = T ]; then
            echo "$p"
            return 0
        fi
    done
    return 1
}
wait_for 60 "vckpt stopped after listing the domains" stopped_pid
lab_domain_undefine xd
kill -CONT "$(stopped_pid)"
rc=0
wait "$bg" || rc=$?
cat "$TMPD/e" >&2
test "$rc" -eq 4 || fail "validate --all exited with $rc, expected 4"

o=$TMPD/o
test "$(jq -r '[.[] | "\(.unit)=\(.exit)"] | join(" ")' "$o")" = "xa=0 xb=4 xc=4 xd=3"
# xa: its checkpoint's bitmaps checked, nothing of the others in its result.
test "$(jq -c '.[0].result | [.domain, .checkpoint, .errors, .warnings, (.findings | length)]' "$o")" \
     = '["xa","c1",0,0,0]'
for d in xb xc; do
    i=$([ $d = xb ] && echo 1 || echo 2)
    jq ".[$i].result" "$o" > "$TMPD/$d.json"
    assert_finding "$TMPD/$d.json" image-unreadable severity=error disk=vda \
                   "image=$(lab_disk_path $d vda)"
    test "$(jq -c '[.domain, .errors]' "$TMPD/$d.json")" = "[\"$d\",1]"
    # Every image its findings name is its own.
    test "$(jq --arg i "$(lab_disk_path $d vda)" \
               '[.findings[] | select(.image != null and .image != $i)] | length' \
               "$TMPD/$d.json")" -eq 0
done
test "$(jq -c '.[3].result' "$o")" = null
assert_grep "^vckpt: validate xd: domain 'xd' not found$" "$TMPD/e"
assert_grep '^vckpt: validate xb: 1 problem found$' "$TMPD/e"
assert_grep '^vckpt: validate xc: 1 problem found$' "$TMPD/e"
if grep -q 'validate xa' "$TMPD/e"; then fail "a message for xa, which is sound"; fi

# The same run as a table, with the domains that are left.
expect_exit 4 vckpt validate --all
assert_grep '^xa +ok +0 +0 ' "$out"
assert_grep '^xb +refused +1 +0 ' "$out"
assert_grep '^xc +refused +1 +0 ' "$out"
assert_grep '^3 domains: 1 valid, 2 failed$' "$out"
