#!/usr/bin/env bash
# Checkpoints follow the repository: after six backups (each deletes what
# the one before no longer needs) and a prune that expires nothing,
# vckpt's checkpoints are the two the next backups need (the newest backup's, its chain's full's): the bound the
# man page states.  A checkpoint made with virsh, and one made with virsh
# under the name of a backup's deleted checkpoint, are untouched.  The
# image then holds exactly those bitmaps, and the next backup --auto is
# incremental and restores bit for bit.
. "${srcdir:-.}/prune-functions.sh"
pf_setup 16M
pf_put 0x61 0 2M
pf_backup 0 --full
for n in 1 2 3 4 5; do
    pf_put "0x6$n" "${n}M" 1M
    pf_backup "$n" --auto
    if [ "$n" = 2 ]; then
        virsh -q checkpoint-create-as "$dom" foreign >/dev/null
    fi
done
ck() { vckpt --json list-backups "$dom" --repo "$R" | jq -r --argjson n "$1" '.backups[$n].checkpoint'; }
ck0=$(ck 0); ck3=$(ck 3); ck5=$(ck 5)
# Each backup already deleted the checkpoint the one before it no longer
# needed.  An admin's checkpoint under the name of backup 3's (deleted):
# not vckpt's identity.
virsh -q checkpoint-create-as "$dom" "$ck3" --description 'made by an admin' >/dev/null
test "$(virsh -q checkpoint-list "$dom" --name | grep -c .)" -eq 4

expect_exit 0 pf_vckpt --json prune "$dom" --repo "$R" --keep-last 10
jq -e '.checkpoints | length == 0' "$out" || fail "expected no checkpoint deleted"
virsh -q checkpoint-list "$dom" --name | sort > "$TMPD/left"
printf '%s\n' "$ck0" "$ck3" "$ck5" foreign | sort > "$TMPD/want"
diff "$TMPD/want" "$TMPD/left" || fail "the checkpoints left are not the expected ones"
test "$(virsh checkpoint-dumpxml "$dom" "$ck3" | grep -c 'made by an admin')" -eq 1
test "$(pf_ids | wc -l)" -eq 6

# Two of vckpt's bitmaps per disk (and the others'), in the image too.
lab_domain_stop "$dom"
lab_bitmaps "$(lab_disk_path "$dom" vda)" | sort > "$TMPD/bitmaps"
diff "$TMPD/want" "$TMPD/bitmaps" || fail "the image's bitmaps are not the expected ones"
lab_domain_start "$dom"

pf_put 0x6a 9M 1M
pf_backup 6 --auto
test "$(jq -r '.level, .since' "$out" | tr '\n' ' ')" = "incremental $ck5 "
pf_restore_ok 6
pf_restore_ok 2
