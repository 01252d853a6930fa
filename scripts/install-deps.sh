#!/bin/sh
# Install the packages vckpt needs to build, test and run its demo, on
# Debian 12 (bookworm) or 13 (trixie): every name below exists in both
# (scripts/check-debian13.sh runs this in a fresh trixie root).  Run as
# root.  Installs libvirt's daemon binaries but starts no system service:
# the tests and the demo run their own private libvirtd.
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    build-essential gcc make autoconf automake libtool pkg-config perl \
    libvirt-dev libxml2-dev libpopt-dev libjson-c-dev libgnutls28-dev libxxhash-dev libconfuse-dev xxhash \
    libnbd-dev libnbd-bin gnutls-bin iproute2 libzstd-dev \
    libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients \
    qemu-system-x86 qemu-utils \
    jq libxml2-utils util-linux procps psmisc python3 strace \
    clang libclang-rt-dev valgrind \
    systemd bash-completion debhelper dh-autoreconf dpkg-dev socat git \
    e2fsprogs cpio gzip xz-utils binutils \
    ovmf swtpm swtpm-tools \
    libguestfs-dev libguestfs-tools libguestfs-xfs linux-image-amd64 fuse3 \
    > /dev/null
# restic, the engine of copies to restic:REPOSITORY (lib/restic.c), and
# sshd, the SFTP server the restic tests start in a network namespace of
# their own (tests/restic-functions.sh).  No system sshd comes with it:
# where openssh-server was not installed yet, its service is neither
# started (policy-rc.d) nor enabled.
if [ "$(dpkg-query -W -f='${Status}' openssh-server 2>/dev/null)" = "install ok installed" ]; then
    apt-get install -y -qq --no-install-recommends restic > /dev/null
else
    policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy=/usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod 0755 "$policy"
    fi
    apt-get install -y -qq --no-install-recommends restic openssh-server > /dev/null
    if [ -n "$policy" ]; then
        rm -f "$policy"
        trap - EXIT
    fi
    systemctl disable ssh.service > /dev/null 2>&1 || true
fi
# The real guest of the tests (tests/lab-guest.sh) is built from Debian
# packages that apt-get download fetches into the build tree: the kernel,
# busybox-static and qemu-guest-agent are never installed on the host.

# rsync, the limit bench/bench-copy.sh compares copies with.
apt-get install -y -qq --no-install-recommends rsync > /dev/null
# The peer tool the benches compare with (bench/bench-backup.sh,
# bench/bench-offline.sh); they skip it where the package is missing.
apt-get install -y -qq --no-install-recommends virtnbdbackup > /dev/null ||
    echo "install-deps: virtnbdbackup not installed: the benches will skip" >&2
