#!/usr/bin/env bash
# prune --all: every domain of the repository, each in its own process,
# with the rules given; one domain whose manifest is damaged fails alone
# (its own exit status in the summary), the others are pruned and their
# kept points restore; the exit status is the most serious one.
. "${srcdir:-.}/functions.sh"
set -e -x
requires_root
lab_start
R=$TMPD/repo
for d in pa pb; do
    lab_domain_define "$d" --disk 8M
    lab_domain_start "$d"
    for n in 1 2 3; do
        lab_write "$d" vda "0x5$n" "${n}M" 1M
        expect_exit 0 vckpt backup "$d" --repo "$R" --auto
    done
done
mkdir -m 700 "$R/broken"
echo '<manifest' > "$R/broken/manifest.xml"

expect_exit 1 vckpt --json prune --all --repo "$R" --keep-last 1 --jobs 2
jq -e '[.[] | {(.unit): .exit}] | add == {"broken": 1, "pa": 0, "pb": 0}' "$out" ||
    fail "unexpected outcomes: $(cat "$out")"
for d in pa pb; do
    test "$(vckpt --json list-backups "$d" --repo "$R" | jq '.backups | length')" -eq 1
    lab_domain_stop "$d"
    mkdir "$TMPD/to-$d"
    expect_exit 0 vckpt restore "$d" --repo "$R" --to "$TMPD/to-$d"
    lab_compare_images "$TMPD/to-$d/vda.qcow2" "$(lab_disk_path "$d" vda)" ||
        fail "$d: the kept point does not restore the disk"
done
for d in pa pb; do expect_exit 0 vckpt verify "$d" --repo "$R"; done
