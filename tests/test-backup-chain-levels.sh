#!/usr/bin/env bash
# Backups of a running two-disk domain (a name with a space): full, then
# incremental, --auto, differential, --auto with nothing written; each has
# the level and the parent checkpoint ("since") asked for or chosen, and
# afterwards only the checkpoints the repository still needs are left
# (checkpoints follow the repository).
. "${srcdir:-.}/backup-functions.sh"
bf_setup

test "$(jq -r '.level, .checkpoint, .since' "$TMPD/k0.json" | tr '\n' ' ')" = "full k0 null "
test "$(jq -r '.level, .since' "$TMPD/k1.json" | tr '\n' ' ')" = "incremental k0 "
jq -e '.bytes >= 1048576' "$TMPD/k1.json"
test "$(jq -r '.level, .since, .auto_reason' "$TMPD/k2.json" | tr '\n' ' ')" = "incremental k1 null "
test "$(jq -r '.level, .since' "$TMPD/k3.json" | tr '\n' ' ')" = "differential k0 "
test "$(jq -r '.level, .since' "$TMPD/k4.json" | tr '\n' ' ')" = "incremental k3 "

# Checkpoints follow the repository: the chain's full (for a
# differential) and the newest (for an incremental) stay, nothing else.
test "$(virsh -q checkpoint-list "$dom" --name | sort | tr '\n' ' ')" = "k0 k4 "
