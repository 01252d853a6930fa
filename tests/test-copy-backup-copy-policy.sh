#!/usr/bin/env bash
# backup --copy: the policy file's copy-to (a second repository and a
# restic repository, its password from restic-password-file) receives the
# domain's backups right after each backup; the next --copy sends only the
# new point; every point restores bit for bit from both second places;
# status shows the last copy to each; a copy that fails (restic's password
# wrong) fails the run (exit 2) while the backup itself stays committed;
# a domain without copy-to is backed up with a warning, nothing copied.
. "${srcdir:-.}/restic-functions.sh"
set -e -x
lab_start
lab_domain_define "$dom" --disk 64M --disk 32M
lab_domain_start "$dom"
qemu-img create -q -f qcow2 "$TMPD/model-vda.qcow2" 64M
qemu-img create -q -f qcow2 "$TMPD/model-vdb.qcow2" 32M
rs_init
D=$TMPD/second
cat > "$TMPD/vckpt.conf" <<EOC
repository = "$R"
copy-to = {"$D", "restic:$RR"}
restic-password-file = "$RP"
EOC
export VCKPT_CONFIG=$TMPD/vckpt.conf

bf_put vda 0x10 0 1M
bf_put vdb 0x20 0 1M
expect_exit 0 vckpt --json backup "$dom" --full --name k0 --copy
jq -e '[.copies[] | .ok] == [true, true]' "$out"
cp "$TMPD/model-vda.qcow2" "$TMPD/m0-vda.qcow2"; cp "$TMPD/model-vdb.qcow2" "$TMPD/m0-vdb.qcow2"
bf_put vda 0x11 2M 1M
expect_exit 0 vckpt --json backup "$dom" --auto --name k1 --copy
jq -e '.level == "incremental" and ([.copies[] | .ok] == [true, true])' "$out"
cp "$TMPD/model-vda.qcow2" "$TMPD/m1-vda.qcow2"; cp "$TMPD/model-vdb.qcow2" "$TMPD/m1-vdb.qcow2"
test "$(rs_snapshots | wc -l)" -eq 2
test "$(vckpt --json list-backups "$dom" --repo "$D" | jq '.backups | length')" -eq 2

for n in 0 1; do
    for from in dir restic; do
        mkdir "$TMPD/r-$from-$n"
        if [ $from = dir ]; then
            expect_exit 0 vckpt restore "$dom" --repo "$D" --at k$n --to "$TMPD/r-$from-$n"
        else
            expect_exit 0 vckpt restore "$dom" --from "restic:$RR" --password-file "$RP" \
                --at k$n --to "$TMPD/r-$from-$n"
        fi
        for d in vda vdb; do
            qemu-img compare -q "$TMPD/m$n-$d.qcow2" "$TMPD/r-$from-$n/$d.qcow2" ||
                fail "restore at k$n from $from: $d differs"
        done
    done
done
expect_exit 0 vckpt --json status
jq -e --arg d "$dom" '.repositories[].domains[] | select(.domain == $d) | .last_copy != null' "$out"

# A wrong restic password: the run fails, the backup stays.
echo "not the password" > "$TMPD/wrong.pw"
sed -i "s|^restic-password-file = .*|restic-password-file = \"$TMPD/wrong.pw\"|" "$TMPD/vckpt.conf"
bf_put vda 0x12 4M 1M
expect_exit 2 vckpt --json backup "$dom" --auto --name k2 --copy
jq -e '[.copies[] | .ok] == [true, false]' "$out"
test "$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[-1].checkpoint')" = k2
test "$(rs_snapshots | wc -l)" -eq 2

# No copy-to (backup --all --copy runs every domain with --copy): backed
# up all the same, with a warning; nothing copied.
printf 'repository = "%s"\n' "$R" > "$TMPD/nocopy.conf"
VCKPT_CONFIG=$TMPD/nocopy.conf expect_exit 0 vckpt --json backup "$dom" --auto --name k3 --copy
grep -q "no copy-to: nothing is copied" "$err"
jq -e '.copies == []' "$out"
test "$(vckpt --json list-backups "$dom" --repo "$R" | jq '.backups | length')" -eq 4
