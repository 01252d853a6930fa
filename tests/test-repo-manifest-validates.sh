#!/usr/bin/env bash
# The manifest of a chain of five backups (full, incrementals, a
# differential) of a two-disk domain validates against our schema,
# xml/manifest.rng, as xmllint reads it.
. "${srcdir:-.}/backup-functions.sh"
bf_setup

xmllint --noout --relaxng "$abs_top_srcdir/xml/manifest.rng" "$R/$dom/manifest.xml"
