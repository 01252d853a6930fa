#!/usr/bin/env bash
# restore --finish killed (SIGKILL) during its block copy leaves libvirt's
# copy job running.  The next --finish recognises its own leftover job (it
# mirrors into this finish's destination): aborts it, removes its file and
# copies again, also when the file was removed by hand meanwhile (the job
# then mirrors into an unlinked file); the domain ends on a standalone
# image holding its data, nothing of the record is left.  A copy job of a
# --finish with another --to, or a block job that is not one of --finish's,
# is left alone and named with the command that clears it (exit 5); an
# image of the name without a job is never replaced (exit 1, its rm named).
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/drill-functions.sh"
set -e -x
requires_root
instant_base 64M 0x61 8M
I=$TMPD/inst
F=$TMPD/final
mkdir "$I" "$F"

copy_job () { [[ "$(virsh blockjob "$1" vda 2>&1)" == *"Block Copy"* ]]; }

# finish_killed NAME [DIR]: --finish (--to DIR, default $F) stopped once its
# copy runs, then SIGKILLed.
finish_killed ()
{
    hold_at finish-copying "$VCKPT" restore --finish "$1" --to "${2:-$F}" --repo "$R"
    kill -KILL "$held"
    wait "$held" || true
    copy_job "$1" || fail "no copy job left running on $1"
}

# finished NAME PATTERN: moved onto the standalone image, which holds the data.
finished ()
{
    grep -q "left by an interrupted restore --finish was aborted" "$err"
    if copy_job "$1"; then fail "a copy job still runs on $1"; fi
    virsh -c "$LAB_URI" dumpxml "$1" >"$TMPD/x.xml"
    test "$(xmllint --xpath 'string(/domain/devices/disk/source/@file)' "$TMPD/x.xml")" \
        = "$F/$1-vda.qcow2"
    if [ -e "$R/$dom/instant.json" ]; then
        jq -e --arg n "$1" '[.domains[] | select(.name == $n)] == []' "$R/$dom/instant.json"
    fi
    test ! -e "$I/$1-vda.instant.qcow2"
    lab_domain_stop "$1"
    qemu-img info --output=json "$F/$1-vda.qcow2" | jq -e 'has("backing-filename") | not'
    lab_expect_pattern "$F/$1-vda.qcow2" 0 4M 0x61
    lab_expect_pattern "$F/$1-vda.qcow2" 4M 4M "$2"
}

for n in n1 n2 n3; do
    expect_exit 0 vckpt restore "$dom" --instant --define "$n" --to "$I" --repo "$R"
    lab_write "$n" vda 0x62 4M 4M
done

# The leftover job mirrors into the file this --finish would make.
finish_killed n1
test -e "$F/n1-vda.qcow2"
expect_exit 0 vckpt restore --finish n1 --to "$F" --repo "$R"
finished n1 0x62

# The file removed by hand: the job mirrors into an unlinked file.
finish_killed n2
rm "$F/n2-vda.qcow2"
expect_exit 0 vckpt restore --finish n2 --to "$F" --repo "$R"
finished n2 0x62

# The leftover of a --finish with another --to: named, left alone.
mkdir "$TMPD/elsewhere"
finish_killed n3 "$TMPD/elsewhere"
expect_exit 5 vckpt restore --finish n3 --to "$F" --repo "$R"
grep -q "vckpt restore --finish n3 --to $TMPD/elsewhere --repo $R" "$err"
copy_job n3 || fail "the other --finish's copy was stopped"
expect_exit 0 vckpt restore --finish n3 --to "$TMPD/elsewhere" --repo "$R"
test "$(lab_disk_path n3 vda)" = "$TMPD/elsewhere/n3-vda.qcow2"

# Someone else's block copy: not aborted, named with what clears it; an
# image of the name without a job is never replaced, named with its rm.
expect_exit 0 vckpt restore "$dom" --instant --define n4 --to "$I" --repo "$R"
virsh -q blockcopy n4 vda "$TMPD/other.qcow2" --transient-job
expect_exit 5 vckpt restore --finish n4 --to "$F" --repo "$R"
grep -q "virsh blockjob n4 vda --abort" "$err"
copy_job n4 || fail "the other block copy was stopped"
test ! -e "$F/n4-vda.qcow2"
virsh -q blockjob n4 vda --abort
touch "$F/n4-vda.qcow2"
expect_exit 1 vckpt restore --finish n4 --to "$F" --repo "$R"
grep -q "remove it with 'rm $F/n4-vda.qcow2'" "$err"
test ! -s "$F/n4-vda.qcow2"
rm "$F/n4-vda.qcow2"
expect_exit 0 vckpt restore --finish n4 --to "$F" --repo "$R"
