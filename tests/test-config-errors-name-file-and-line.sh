#!/usr/bin/env bash
# vckpt config check: a valid policy file passes (exit 0); each broken one
# is exit 2 with "FILE:LINE: message" naming the line at fault (unknown
# option, bad duration, bad count, bad type, bad disk name, duplicate
# section, syntax); a file that is not there is exit 3.  The file comes
# from the argument, else $VCKPT_CONFIG; prune refuses a broken one the
# same way before touching anything.
. "${srcdir:-.}/functions.sh"
set -e -x
C=$TMPD/conf
mkdir "$C"
cat > "$C/good.conf" <<'CONF'
# a policy
repository = "/srv/backup"
jobs = 2
retention {
  keep-daily = 7
  keep-weekly = 4
}
domain "web*" {
  full-every-backups = 7
  exclude-disks = {"vdc", "vdd"}
  quiesce = true
  retention { keep-last = 3  keep-within = "2d" }
}
CONF
expect_exit 0 vckpt config check "$C/good.conf"
grep -q "good.conf: valid, 1 domain section" "$out"
VCKPT_CONFIG=$C/good.conf expect_exit 0 vckpt --json config check
test "$(jq -r .domain_sections "$out")" = 1

bad() {   # bad LINE REGEX: the file on stdin fails at LINE with REGEX
    local f="$C/bad$RANDOM.conf"
    cat > "$f"
    expect_exit 2 vckpt config check "$f"
    grep -E -q "^vckpt: config check: $f:$1: $2" "$err" ||
        fail "expected $f:$1: $2 in: $(cat "$err")"
}
printf 'repository = "/x"\n\nretention {\n  keep-dayly = 7\n}\n' |
    bad 4 "no such option 'keep-dayly'"
printf 'domain "x" {\n  retention {\n    keep-within = "2 days"\n  }\n}\n' |
    bad 3 "keep-within: '2 days' is not a duration"
printf '\njobs = 0\n' | bad 2 "jobs must be between 1 and 64, not 0"
printf '\njobs = 1000\n' | bad 2 "jobs must be between 1 and 64, not 1000"
printf 'retention {\n keep-last = -1\n}\n' | bad 2 "keep-last must be between 0 and 1000000"
# Never cut to an int: 2^32 + 1 would keep 1.
printf 'retention {\n keep-daily = 4294967297\n}\n' | bad 2 "keep-daily must be between 0 and 1000000"
printf 'retention {\n keep-last = "three"\n}\n' | bad 2 "invalid integer value for option 'keep-last'"
printf 'domain "a" {\n  exclude-disks = {"../etc"}\n}\n' | bad 2 "exclude-disks: '../etc' is not a disk"
printf 'domain "x" { }\ndomain "x" { }\n' | bad 2 "found duplicate title 'x'"
printf 'domain "x" {\n  jobs = 3\n}\n' | bad 2 "no such option 'jobs'"
# Hosts (backup --all over hypervisors) and status's max-age.
printf '\nhost hv1 {\n  jobs = 2\n}\n' | bad 4 "host 'hv1' has no uri"
printf 'host "a b" { uri = "x" }\n' | bad 1 "host 'a b': a host's name is letters"
printf 'host a {\n uri = "two words"\n}\n' | bad 2 "uri: 'two words' is not a libvirt URI"
printf 'host a {\n uri = "x"\n jobs = 65\n}\n' | bad 3 "jobs must be between 1 and 64, not 65"
printf 'host a { uri = "x" }\nhost a { uri = "y" }\n' | bad 2 "found duplicate title 'a'"
printf 'host a {\n uri = "x"\n repository = "/r"\n}\n' | bad 3 "no such option 'repository'"
printf '\nmax-age = "soon"\n' | bad 2 "max-age: 'soon' is not a duration"
printf 'host a { uri = "qemu:///system" }\nmax-age = "1d"\n' > "$C/hosts.conf"
expect_exit 0 vckpt --json config check "$C/hosts.conf"
test "$(jq -c .hosts "$out")" = '[{"name":"a","uri":"qemu:///system","jobs":null}]'

expect_exit 3 vckpt config check "$C/missing.conf"
grep -q 'missing.conf' "$err"

# prune reads the same file and stops at the same error.
printf 'retention {\n  keep-dayly = 7\n}\n' > "$C/prune.conf"
VCKPT_CONFIG=$C/prune.conf expect_exit 2 vckpt prune somedomain --repo "$TMPD/none"
grep -q "prune.conf:2: no such option 'keep-dayly'" "$err"
