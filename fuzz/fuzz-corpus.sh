#!/bin/sh
# Replay every seed of the fuzz corpus through the qcow2 reader (built as a
# plain program): a seed that once crashed must never crash again.
set -e
count=$(ls "$CORPUS" | wc -l)
test "$count" -gt 0
"$FUZZ_RUN" "$CORPUS"/*
echo "replayed $count corpus inputs"
