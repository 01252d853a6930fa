#!/usr/bin/env bash
# manifest.xml gone while the chain directories are still there: verify does
# not say OK about zero backups, it reports manifest-missing (exit 1).
. "${srcdir:-.}/restore-functions.sh"
rf_setup

rm "$R/$dom/manifest.xml"
expect_exit 1 rf_vckpt --json verify "$dom" --repo "$R"
rf_has_finding "$out" manifest-missing
jq -e '.ok == false' "$out"
