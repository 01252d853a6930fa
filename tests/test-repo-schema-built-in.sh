#!/usr/bin/env bash
# The built binary opens a repository with no installed schema: the
# manifest schema is compiled in.  With VCKPT_XMLDIR unset, and with it
# naming an empty directory, list-backups, verify and a new backup (which
# validates the manifest it writes) all work; before, each failed with
# "cannot load the manifest schema".
. "${srcdir:-.}/restore-functions.sh"
rf_setup

mkdir "$TMPD/empty"
for xmldir in unset "$TMPD/empty"; do
    if [ "$xmldir" = unset ]; then unset VCKPT_XMLDIR; else export VCKPT_XMLDIR=$xmldir; fi
    expect_exit 0 rf_vckpt --json list-backups "$dom" --repo "$R"
    jq -e '(.backups | length) >= 2' "$out"
    assert_no_grep 'schema' "$err"
    expect_exit 0 rf_vckpt --json verify "$dom" --repo "$R"
    jq -e '.errors == 0' "$out"
    assert_no_grep 'schema' "$err"
done

# A backup writes the manifest, validated against the same schema first.
unset VCKPT_XMLDIR
expect_exit 0 rf_vckpt -q backup "$dom" --incremental c2 --name c3 --repo "$R"
expect_exit 0 rf_vckpt --json list-backups "$dom" --repo "$R"
jq -e '(.backups | length) == 3 and .backups[2].checkpoint == "c3"' "$out"
