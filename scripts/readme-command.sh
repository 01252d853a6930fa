#!/bin/sh
# Print the shell command README.md gives a newcomer under the marker
# <!-- NAME --> (test-command or demo-command): the first ```sh block after
# it, without its indentation.  CI runs exactly that, on Debian 12 (.ci/run)
# and in a Debian 13 root (scripts/check-debian13.sh), so the README and
# what is checked cannot drift apart.
# Usage: scripts/readme-command.sh NAME [README]
set -e
name=${1:?usage: readme-command.sh NAME [README]}
readme=${2:-$(dirname "$0")/../README.md}
cmd=$(sed -n "/<!-- $name -->/,/^ *\`\`\`\$/p" "$readme" |
      sed -n '/^ *```sh$/,/^ *```$/p' | sed '1d;$d; s/^ *//')
if [ -z "$cmd" ]; then
    echo "readme-command: no command under <!-- $name --> in $readme" >&2
    exit 1
fi
printf '%s\n' "$cmd"
