#!/usr/bin/env bash
# Bash completion (contrib/bash-completion/vckpt) completes a partial word
# against the lab daemon: domain names (one with a space, one shut off),
# checkpoint names, backup ids, commands and options; -c and --repo on the
# line are used.
. "${srcdir:-.}/functions.sh"
set -e -x
requires_root
lab_start
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}
R=$TMPD/repo
lab_domain_define 'alpha 1' --disk 16M
lab_domain_define alpha2 --disk 16M
lab_domain_define beta --disk 16M
lab_domain_start alpha2
vckpt -q checkpoint create alpha2 chk-a
vckpt -q backup alpha2 --full --name chk-b --repo "$R"

# The completion finds the vckpt under test by its name, as a shell would.
PATH=$(dirname "$VCKPT"):$PATH
. "$abs_top_srcdir/contrib/bash-completion/vckpt"
complete -p vckpt | grep -q -- '-F _vckpt'

# comp WORD...: complete the last word; the offers, sorted, one line.
comp ()
{
    COMP_WORDS=("$@")
    COMP_CWORD=$(( $# - 1 ))
    COMPREPLY=()
    _vckpt
    printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}

test "$(comp vckpt backup al)" = 'alpha2 alpha\ 1 '
test "$(comp vckpt backup b)" = 'beta '
test "$(comp vckpt -c "$LAB_URI" validate alpha)" = 'alpha2 alpha\ 1 '
test "$(comp vckpt checkpoint info alpha2 chk)" = 'chk-a chk-b '
test "$(comp vckpt backup alpha2 --auto --incremental chk-)" = 'chk-a chk-b '
id=$(vckpt --json list-backups alpha2 --repo "$R" | jq -r '.backups[0].id')
test "$(comp vckpt restore alpha2 --repo "$R" --at '')" = "chk-b $id "
test "$(comp vckpt list-backups --repo "$R" a)" = 'alpha2 '
test "$(comp vckpt che)" = 'checkpoint '
test "$(comp vckpt checkpoint re)" = 'redefine '
test "$(comp vckpt backup --all --inc)" = '--include-shut-off --incremental '
test "$(comp vckpt --log)" = '--log-file '
# Nothing matches: nothing offered (the check above can fail).
test "$(comp vckpt backup zz)" = ' '
