#!/usr/bin/env bash
# A --to another user owns or may write (issue: that user renames a qcow2
# of their own, backed by a root-only file, over an image the defined
# domain names) is refused for every path that defines or starts a domain:
# restore --define, --instant, --finish and drills (their temporary
# directory): exit 2, the directory named, nothing written, no domain
# defined, while `nobody` keeps planting its own image there in a loop.
# Into a root-owned --to the same loop cannot swap anything: the defined
# domain's image is vckpt's own.
. "${srcdir:-.}/stock-functions.sh"
set -e -x
requires setpriv --version
stock_setup
lab_domain_start "$dom"
lab_write "$dom" vda 0x61 0 1M
expect_exit 0 vckpt backup "$dom" --repo "$R" --full --name k0
lab_domain_stop "$dom"

secret=$TMPD/secret
head -c 1M /dev/urandom >"$secret"
chmod 0600 "$secret"
O=$TMPD/others
mkdir "$O"
chown nobody "$O"
W=$TMPD/world
mkdir -m 0777 "$W"          # root's, writable by all, not sticky

# nobody's swapper: its own image, backed by the root-only file, renamed
# over every name vckpt might use, as fast as it can.
qemu-img create -q -f qcow2 -F raw -b "$secret" "$TMPD/evil.qcow2" 1M
chmod 0644 "$TMPD/evil.qcow2"
swapper ()
{
    local d="$1" i=0
    while :; do
        for n in vda.qcow2 vdb.qcow2 s1r-vda.instant.qcow2 s1r-vdb.instant.qcow2 \
                 s1r-vda.qcow2 s1r-vdb.qcow2; do
            cp "$TMPD/evil.qcow2" "$d/.e$i" 2>/dev/null && mv -f "$d/.e$i" "$d/$n" 2>/dev/null
            i=$(( (i + 1) % 100 ))
        done
    done
}
for d in "$O" "$W"; do
    setpriv --reuid=nobody --regid=nogroup --clear-groups bash -c "$(declare -f swapper); TMPD=$TMPD; swapper $d" &
    pids+=($!)
done
cleanup_fn kill "${pids[@]}"
wait_for 10 "nobody's first swap" test -e "$O/vda.qcow2"

for d in "$O" "$W"; do
    expect_exit 2 vckpt restore "$dom" --repo "$R" --at k0 --to "$d" --define s1r
    grep -qE "(owned by another user|writable by other users).*use a directory only root can change" "$err"
    expect_exit 2 vckpt restore "$dom" --repo "$R" --at k0 --to "$d" --define s1r --instant
    grep -qE "owned by another user|writable by other users" "$err"
    TMPDIR=$d expect_exit 2 vckpt verify "$dom" --boot --at k0 --repo "$R" --marker X --timeout 5
    grep -qE "temporary directory .*(owned by another user|writable by other users)" "$err"
    if virsh -q dominfo s1r >/dev/null 2>&1; then fail "domain s1r was defined"; fi
done
test ! -e "$R/$dom/instant.json"

# --finish into such a directory: the instant domain stays on its overlays.
I=$TMPD/instant
mkdir "$I"
expect_exit 0 vckpt restore "$dom" --repo "$R" --at k0 --to "$I" --define s1r --instant
for d in "$O" "$W"; do
    expect_exit 2 vckpt restore --finish s1r --to "$d" --repo "$R"
    grep -qE "owned by another user|writable by other users" "$err"
done
virsh -q domblklist s1r | grep -q "$I/s1r-vda.instant.qcow2"
lab_domain_stop s1r
virsh -q undefine s1r >/dev/null
rm -f "$I"/*

# A root-owned --to: nobody cannot rename anything into it.
T=$TMPD/to
mkdir -m 0755 "$T"
setpriv --reuid=nobody --regid=nogroup --clear-groups bash -c "$(declare -f swapper); TMPD=$TMPD; swapper $T" 2>/dev/null &
cleanup_fn kill $!
expect_exit 0 vckpt restore "$dom" --repo "$R" --at k0 --to "$T" --define s1r
test "$(stat -c %u "$T/s1r-vda.qcow2")" = 0
qemu-img info --output=json "$T/s1r-vda.qcow2" | jq -e 'has("backing-filename") | not'
lab_expect_pattern "$T/s1r-vda.qcow2" 0 1M 0x61
