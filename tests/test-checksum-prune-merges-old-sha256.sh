#!/usr/bin/env bash
# Retention over a repository written before XXH3-128 (every record
# <sha256>, manifest version 1, made by hand from real backups): the full
# expires and is merged into the next backup.  The sources are checked
# against their sha256; every file prune writes gets an xxh3-128 record (as
# xxh128sum computes it), every file it keeps its <sha256> unchanged; the
# manifest becomes version 2; both points restore bit for bit; verify
# passes.
. "${srcdir:-.}/prune-functions.sh"
requires xxh128sum --version
pf_setup 16M
pf_put 0x61 0 4M
pf_backup 0 --full
pf_put 0x62 1M 1M
pf_backup 1 --auto
pf_put 0x63 3M 2M
pf_backup 2 --auto

M=$R/$dom/manifest.xml
declare -A old
for f in $(xmllint --xpath '//disk/file/text()' "$M"); do
    old[$f]=$(sha256sum <"$R/$dom/$f" | cut -d' ' -f1)
    as_old_sha256 "$M" "$R/$dom/$f"
done
assert_eq 0 "$(xmllint --xpath 'count(//checksum)' "$M")" "records left as xxh3-128"
expect_exit 0 pf_vckpt --json verify "$dom" --repo "$R"
jq -e '.findings == []' "$out"

expect_exit 0 pf_vckpt --json prune "$dom" --repo "$R" --keep-last 2
assert_eq "$(cat "$TMPD/id1") $(cat "$TMPD/id2")" "$(pf_ids | tr '\n' ' ' | sed 's/ $//')" \
          "the backups kept"
assert_eq 2 "$(xmllint --xpath 'string(/manifest/@version)' "$M")" "the manifest's version"
new=0
for id in $(pf_ids); do
    f=$(xmllint --xpath "string(/manifest/backup[@id='$id']/disks/disk/file)" "$M")
    if [ -n "${old[$f]:-}" ]; then
        assert_eq "${old[$f]}" \
                  "$(xmllint --xpath "string(/manifest/backup[@id='$id']/disks/disk/sha256)" "$M")" \
                  "the kept record of $f"
    else
        new=$((new + 1))
        assert_eq "$(xxh128sum <"$R/$dom/$f" | cut -d' ' -f1)" \
                  "$(xmllint --xpath "string(/manifest/backup[@id='$id']/disks/disk/checksum[@type='xxh3-128'])" "$M")" \
                  "the record of the file prune wrote, $f"
    fi
done
test "$new" -ge 1 || fail "prune wrote no new file"
pf_restore_ok 1
pf_restore_ok 2
expect_exit 0 pf_vckpt --json verify "$dom" --repo "$R"
jq -e '.findings == []' "$out"
