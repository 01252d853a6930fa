# vckpt test suite: a real Linux guest in the lab.
#
# Sourced after functions.sh (which loads lab.sh):
#
#   . "${srcdir:-.}/functions.sh"
#   . "${srcdir:-.}/lab-guest.sh"
#
# See ../../shared/lab.md ("A real Linux guest") for the facts this is
# built on.  The guest is the Debian cloud kernel booted directly
# (<os><kernel>/<initrd>/<cmdline>) with an initramfs holding
# busybox-static, the virtio modules (insmod'ed in dependency order),
# qemu-ga with its library closure, and the scripts of tests/guest/: /init
# mounts the ext4 data disk vda on /data, starts busybox acpid and the
# guest agent; the workload and the poweroff are scripts too.  Everything
# comes from Debian packages fetched with apt-get download and unpacked
# with dpkg-deb -x into a cache: nothing is installed on the host, and
# after the first build the lab works offline.
#
# API (every function fails the test loudly on an infrastructure error):
#   lab_guest_requires             skip the test unless the host tools exist
#   lab_guest_build                build (or find in the cache) kernel and
#                                  initramfs; set LAB_GUEST_KERNEL,
#                                  LAB_GUEST_INITRD.  Skips (exit 77) only
#                                  when there is no cache and the packages
#                                  cannot be downloaded (no network)
#   lab_guest_virttype             print "kvm" when the machine offers it
#                                  (domcapabilities, and a throwaway kvm
#                                  domain boots the guest kernel), else
#                                  "qemu" (TCG); probed once, remembered
#                                  in the cache
#   lab_guest_define NAME [--data-size SIZE] [--memory MIB]
#                                  define a persistent guest (default 64M
#                                  data disk, 128 MiB): vda is a qcow2 of a
#                                  fresh ext4 (4 KiB blocks, no lazy init)
#                                  in $LAB/images/NAME-vda.qcow2; the agent
#                                  channel; the serial console logged to
#                                  $LAB/log/NAME-console.log
#   lab_guest_start NAME           start it and wait for the agent
#   lab_guest_wait_agent NAME [SECONDS]
#                                  poll guest-ping until the agent answers
#                                  (default 180 s); the console log is
#                                  shown when it never does
#   lab_guest_agent NAME JSON      one agent command; print its reply
#   lab_guest_exec NAME PATH [ARGS...]
#                                  run a program in the guest (guest-exec),
#                                  print its stdout, return its exit code
#   lab_guest_workload_start NAME [FILES [MAXKIB]]
#                                  start the in-guest workload: files of 4
#                                  KiB to MAXKIB (256) random bytes, at most
#                                  FILES (12) live, each recorded with its
#                                  sha256 in /data/manifest once synced
#   lab_guest_workload_stop NAME   stop it after its current step, sync
#   lab_guest_workload_count NAME  print how many files it has recorded
#   lab_guest_wait_count NAME N [SECONDS]
#                                  wait until it has recorded at least N
#   lab_guest_shutdown NAME [MODE] virsh shutdown (default --mode acpi:
#                                  the power button, busybox acpid; agent
#                                  works too, and so does a plain virsh
#                                  shutdown), wait until shut off; the
#                                  guest stops the workload and unmounts
#                                  /data first, so the disk is clean
#   lab_guest_console NAME         print the console log file of a guest
#   lab_guest_check_image IMAGE [--replay] [--min N]
#                                  check a data disk image (any format) on
#                                  a scratch raw copy: without --replay the
#                                  file system must be clean directly (no
#                                  needs_recovery, e2fsck -fn exit 0); with
#                                  --replay the journal is replayed first
#                                  (e2fsck -E journal_only -y).  Then the
#                                  manifest and every live file are read
#                                  with debugfs (no mount) and every live
#                                  entry's checksum verified; --min: at
#                                  least N files recorded.  Returns 1 (with
#                                  the reasons on stderr) on a bad image,
#                                  prints "N live files intact" otherwise
#
# Environment:
#   LAB_GUEST_CACHE     cache of .debs and builds (default
#                       $abs_top_builddir/tests/lab-cache/guest)
#   LAB_GUEST_VIRTTYPE  "kvm" or "qemu" to skip the probe
#   LAB_GUEST_KVM_PROBE_TIMEOUT  seconds the kvm probe may take (30)
#   LAB_GUEST_BOOT_TIMEOUT  seconds lab_guest_wait_agent waits (180)
#
# The guest prints markers on its serial console (ttyS0, logged to
# lab_guest_console NAME): "VCKPT-GUEST-READY" once the agent runs (a
# console marker for restore drills), "VCKPT-GUEST-POWEROFF" when it
# shuts down cleanly, "VCKPT-GUEST-FAILED: REASON" before it powers off
# after a failed boot step.
#
# Read images only while no QEMU has them open (lab.sh says why).

_lab_guest_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

: "${LAB_GUEST_CACHE:=${abs_top_builddir:-$(dirname "$_lab_guest_dir")}/tests/lab-cache/guest}"
: "${LAB_GUEST_BOOT_TIMEOUT:=180}"

# Modules the guest loads (with what they depend on): the virtio disk and
# serial port, and the power button for ACPI shutdown.
_lab_guest_modules="virtio_pci virtio_blk virtio_console button evdev"

# lab_guest_requires
#
# Skip the test unless the host has what building and checking a guest
# needs (scripts/install-deps.sh installs it).
lab_guest_requires ()
{
    lab_requires
    local cmd
    for cmd in e2fsck debugfs dumpe2fs mke2fs; do
        requires "$cmd" -V
    done
    requires cpio --version
    requires gzip --version
    requires dpkg-deb --version
    requires apt-get --version
    requires apt-cache --version
    requires readelf --version
    requires strings --version
    requires xz --version
    requires flock --version
    requires sha256sum --version
    requires base64 --version
}

# _lab_guest_show PACKAGE...
#
# Print "name version depends" for each package apt knows (its candidate
# version, from apt's lists: no network), the Depends as a comma-free
# list of first alternatives.  One apt-cache call (each takes 1-2 s).
_lab_guest_show ()
{
    apt-cache show --no-all-versions "$@" 2>/dev/null |
    awk '
        function flush() {
            if (p != "" && !(p in seen)) {
                seen[p] = 1
                n = split(d, a, ",")
                out = ""
                for (i = 1; i <= n; ++i) {
                    x = a[i]
                    sub(/\|.*/, "", x); sub(/\(.*/, "", x); sub(/:any/, "", x)
                    gsub(/[ \t]/, "", x)
                    if (x != "") out = out " " x
                }
                print p, v out
            }
            p = v = d = ""
        }
        /^$/ { flush(); next }
        /^Package: / { p = $2 }
        /^Version: / { v = $2 }
        /^Depends: / { d = substr($0, 10) }
        END { flush() }
    '
}

# _lab_guest_resolve
#
# Print name=version of every package the guest needs, sorted: the
# kernel the metapackage names, busybox-static, and qemu-guest-agent with
# the recursive closure of its Depends (the libraries; Pre-Depends only
# matter to an installation).  Return 1 if apt does not know one of the
# three.  The answer is cached until apt's lists change.
_lab_guest_resolve ()
{
    local -A seen=()
    local level=() next=() out=() key f p v deps k
    key=$(stat -c '%n %s %Y' /var/lib/apt/lists/*Packages* 2>/dev/null |
          sha256sum | cut -c1-16)
    f="$LAB_GUEST_CACHE/resolved-$key"
    if [ -s "$f" ]; then
        cat "$f"
        return 0
    fi
    read -r p v k _ < <(_lab_guest_show linux-image-cloud-amd64) || return 1
    [[ "$k" == linux-image-* ]] || return 1
    level=("$k" busybox-static qemu-guest-agent)
    while [ ${#level[@]} -gt 0 ]; do
        for p in "${level[@]}"; do seen[$p]=1; done
        next=()
        while read -r p v deps; do
            out+=("$p=$v")
            case "$p" in
                linux-image-* | busybox-static) continue ;;
            esac
            for k in $deps; do
                [ -n "${seen[$k]:-}" ] || { seen[$k]=1; next+=("$k"); }
            done
        done < <(_lab_guest_show "${level[@]}")
        level=("${next[@]}")
    done
    # A virtual package among the libraries' dependencies is left out:
    # the ELF closure check of the build says whether it mattered.
    for p in qemu-guest-agent busybox-static linux-image-; do
        [[ " ${out[*]}" == *" $p"* ]] || return 1
    done
    printf '%s\n' "${out[@]}" | LC_ALL=C sort >"$f.tmp.$$"
    mv -f "$f.tmp.$$" "$f"
    cat "$f"
}

# _lab_guest_deb DEBDIR NAME=VERSION
#
# Print the path of the downloaded .deb of NAME=VERSION, or return 1.
_lab_guest_deb ()
{
    local name=${2%%=*} ver=${2#*=} f
    for f in "$1/${name}_${ver//:/%3a}_"*.deb; do
        [ -f "$f" ] && { echo "$f"; return 0; }
    done
    return 1
}

# _lab_guest_fetch DEBDIR PKGLIST
#
# Download the .debs of PKGLIST (name=version lines) missing in DEBDIR.
_lab_guest_fetch ()
{
    local debdir="$1" p missing=()
    while read -r p; do
        _lab_guest_deb "$debdir" "$p" >/dev/null || missing+=("$p")
    done <<<"$2"
    [ ${#missing[@]} -gt 0 ] || return 0
    echo "lab-guest: downloading ${missing[*]}" >&2
    (cd "$debdir" && timeout -k 5 600 apt-get download -q \
         -o APT::Sandbox::User=root "${missing[@]}" >&2)
}

# _lab_guest_modcat FILE
#
# Print the contents of module FILE (.ko, or .ko.xz as Debian 13 ships
# them), decompressed.
_lab_guest_modcat ()
{
    case "$1" in
        *.ko) cat "$1" ;;
        *.ko.xz) xz -dc "$1" ;;
        *) fail "lab_guest_build: module $1: unknown compression" ;;
    esac
}

# _lab_guest_modorder KMODDIR MODULE...
#
# Print the modules (with their dependencies, from each module's modinfo
# "depends=") in an order insmod accepts, as paths under KMODDIR (.ko or
# .ko.xz).  Modules the kernel has built in (KMODDIR/../modules.builtin:
# Debian 13's cloud kernel has virtio_pci and virtio_console there) are
# left out.
_lab_guest_modorder ()
{
    local kdir="$1" m f d
    shift
    local -A done_=() busy=()
    if [ -f "$kdir/../modules.builtin" ]; then
        while read -r f; do
            m=$(basename "$f" .ko)
            done_[${m//-/_}]=1
        done <"$kdir/../modules.builtin"
    fi
    _lab_guest_visit ()
    {
        local m="${1//-/_}" f d
        [ -z "${done_[$m]:-}" ] || return 0
        [ -z "${busy[$m]:-}" ] || fail "lab_guest_build: module dependency loop at $m"
        busy[$m]=1
        f=$(find "$kdir" \( -name "$m.ko" -o -name "${m//_/-}.ko" \
                            -o -name "$m.ko.xz" -o -name "${m//_/-}.ko.xz" \) -print -quit)
        [ -n "$f" ] || fail "lab_guest_build: no module $m in the kernel package"
        for d in $(_lab_guest_modcat "$f" | strings -a | sed -n 's/^depends=//p' | tr ',' ' '); do
            _lab_guest_visit "$d"
        done
        done_[$m]=1
        echo "$f"
    }
    for m in "$@"; do
        _lab_guest_visit "$m"
    done
}

# _lab_guest_find_lib ROOT NAME
#
# Print the path under ROOT of shared library NAME (from the .debs).
_lab_guest_find_lib ()
{
    local d
    for d in lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu lib usr/lib; do
        if [ -e "$1/$d/$2" ]; then
            echo "$1/$d/$2"
            return 0
        fi
    done
    return 1
}

# _lab_guest_resolve_link ROOT PATH
#
# Print the file PATH (under ROOT) resolves to, following symbolic links
# inside ROOT (absolute targets are relative to ROOT).
_lab_guest_resolve_link ()
{
    local root="$1" p="$2" t i
    for (( i = 0; i < 20; ++i )); do
        [ -L "$p" ] || { echo "$p"; return 0; }
        t=$(readlink "$p")
        case "$t" in
            /*) p="$root$t" ;;
            *) p="$(dirname "$p")/$t" ;;
        esac
    done
    return 1
}

# _lab_guest_assemble X R
#
# Fill the initramfs tree R from the unpacked packages in X.
_lab_guest_assemble ()
{
    local x="$1" r="$2" kdir f m lib src queue=() interp order
    local -A have=()
    mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,lib/x86_64-linux-gnu,lib64,lib/modules,etc/acpi/PWRF,dev,proc,sys,run,tmp,data}

    # Debian 12 ships /bin/busybox, Debian 13 (usr-merged) /usr/bin/busybox.
    f=$x/usr/bin/busybox
    [ -f "$f" ] || f=$x/bin/busybox
    cp "$f" "$r/bin/busybox" ||
        fail "lab_guest_build: no busybox in busybox-static"
    ln -s busybox "$r/bin/sh"
    install -m 0755 "$_lab_guest_dir/guest/init" "$r/init"
    install -m 0755 "$_lab_guest_dir/guest/workload" "$r/bin/guest-workload"
    install -m 0755 "$_lab_guest_dir/guest/poweroff" "$r/sbin/guest-poweroff"
    # qemu-ga's guest-shutdown runs /sbin/shutdown; acpid runs the
    # power button's action file.
    ln -s guest-poweroff "$r/sbin/shutdown"
    ln -s /sbin/guest-poweroff "$r/etc/acpi/PWRF/00000080"

    # Modules, in load order, uncompressed (busybox insmod reads .ko);
    # under /usr/lib/modules on Debian 13.
    kdir=$(echo "$x"/usr/lib/modules/*/kernel)
    [ -d "$kdir" ] || kdir=$(echo "$x"/lib/modules/*/kernel)
    [ -d "$kdir" ] || fail "lab_guest_build: no modules in the kernel package"
    order=$(_lab_guest_modorder "$kdir" $_lab_guest_modules) ||
        fail "lab_guest_build: cannot order the modules"
    : >"$r/lib/modules/load-order"
    for f in $order; do
        m=$(basename "${f%.xz}" .ko)
        _lab_guest_modcat "$f" >"$r/lib/modules/$m.ko" ||
            fail "lab_guest_build: cannot unpack module $f"
        echo "$m" >>"$r/lib/modules/load-order"
    done

    # qemu-ga and the closure of the libraries it needs (readelf NEEDED).
    install -m 0755 "$x/usr/sbin/qemu-ga" "$r/usr/sbin/qemu-ga" ||
        fail "lab_guest_build: no qemu-ga in qemu-guest-agent"
    interp=$(readelf -l "$x/usr/sbin/qemu-ga" |
             sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
    [ "$interp" = /lib64/ld-linux-x86-64.so.2 ] ||
        fail "lab_guest_build: unexpected ELF interpreter '$interp'"
    # Debian 13's libc6 ships it under /usr only (/lib64 -> usr/lib64 is
    # the root file system's link, not libc6's).
    src=$(_lab_guest_resolve_link "$x" "$x$interp") && [ -f "$src" ] ||
        src=$(_lab_guest_resolve_link "$x" "$x/usr$interp") && [ -f "$src" ] ||
        fail "lab_guest_build: no $interp in libc6"
    cp "$src" "$r/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$r/lib64/ld-linux-x86-64.so.2"
    queue=("$r/usr/sbin/qemu-ga")
    while [ ${#queue[@]} -gt 0 ]; do
        f=${queue[0]}
        queue=("${queue[@]:1}")
        for lib in $(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
            [ -z "${have[$lib]:-}" ] || continue
            have[$lib]=1
            src=$(_lab_guest_find_lib "$x" "$lib") ||
                fail "lab_guest_build: $lib (needed by ${f##*/}) is in none of the packages"
            src=$(_lab_guest_resolve_link "$x" "$src") ||
                fail "lab_guest_build: $lib: symbolic link loop"
            cp "$src" "$r/lib/x86_64-linux-gnu/$lib"
            queue+=("$r/lib/x86_64-linux-gnu/$lib")
        done
    done
}

# _lab_guest_make KEYDIR DEBDIR PKGLIST
#
# Build kernel and initramfs into KEYDIR (atomically: a temporary
# directory renamed at the end).
_lab_guest_make ()
{
    local dest="$1" debdir="$2" tmp p deb k
    tmp=$(mktemp -d "$LAB_GUEST_CACHE/build.XXXXXX")
    mkdir "$tmp/x" "$tmp/r"
    while read -r p; do
        deb=$(_lab_guest_deb "$debdir" "$p") ||
            fail "lab_guest_build: no .deb for $p in $debdir"
        dpkg-deb -x "$deb" "$tmp/x" || fail "lab_guest_build: cannot unpack $deb"
    done <<<"$3"
    k=$(echo "$tmp"/x/boot/vmlinuz-*)
    [ -f "$k" ] || fail "lab_guest_build: no kernel in the kernel package"
    cp "$k" "$tmp/vmlinuz"
    _lab_guest_assemble "$tmp/x" "$tmp/r"
    (cd "$tmp/r" && find . -mindepth 1 | LC_ALL=C sort |
         cpio -o -H newc -R 0:0 --quiet) | gzip -9 >"$tmp/initrd.gz" ||
        fail "lab_guest_build: cannot write the initramfs"
    echo "$3" >"$tmp/packages"
    rm -rf "$tmp/x" "$tmp/r"
    # QEMU runs as its own user: it must read the kernel and initramfs.
    chmod 0755 "$tmp"
    touch "$tmp/complete"
    rm -rf "$dest"
    mv "$tmp" "$dest"
}

# lab_guest_build
#
# Make sure a guest kernel and initramfs exist for the current package
# versions and guest scripts; set LAB_GUEST_KERNEL and LAB_GUEST_INITRD.
lab_guest_build ()
{
    local pkgs key debdir lockfd d
    lab_guest_requires
    mkdir -p "$LAB_GUEST_CACHE/debs" || fail "lab_guest_build: cannot create $LAB_GUEST_CACHE"
    debdir="$LAB_GUEST_CACHE/debs"
    # One build at a time (tests run in parallel).
    exec {lockfd}>"$LAB_GUEST_CACHE/lock"
    flock "$lockfd"

    pkgs=$(_lab_guest_resolve) || pkgs=
    if [ -z "$pkgs" ] || ! _lab_guest_fetch "$debdir" "$pkgs"; then
        # Offline, or apt knows other versions now: the last package set
        # that was built, if its .debs are still here.
        echo "lab-guest: cannot resolve or download the current packages; trying the cache" >&2
        pkgs=$(cat "$LAB_GUEST_CACHE/packages.last" 2>/dev/null) || pkgs=
        if [ -z "$pkgs" ] || ! _lab_guest_fetch "$debdir" "$pkgs" 2>/dev/null; then
            exec {lockfd}>&-
            echo "$0: SKIP: no guest packages cached in $LAB_GUEST_CACHE and apt-get download failed (no network?)" >&2
            exit 77
        fi
    fi

    # The key: package versions, and the scripts that go into the build.
    key=$( { echo "$pkgs"; cat "${BASH_SOURCE[0]}" "$_lab_guest_dir"/guest/*; } |
           sha256sum | cut -c1-16)
    d="$LAB_GUEST_CACHE/build-$key"
    if [ ! -f "$d/complete" ]; then
        echo "lab-guest: building the guest in $d" >&2
        _lab_guest_make "$d" "$debdir" "$pkgs"
        echo "$pkgs" >"$LAB_GUEST_CACHE/packages.last.tmp"
        mv -f "$LAB_GUEST_CACHE/packages.last.tmp" "$LAB_GUEST_CACHE/packages.last"
        # Older builds are not needed any more (a running QEMU read its
        # kernel and initramfs at start).
        for old in "$LAB_GUEST_CACHE"/build-*; do
            [ "$old" = "$d" ] || rm -rf "$old"
        done
    fi
    exec {lockfd}>&-
    LAB_GUEST_KERNEL="$d/vmlinuz"
    LAB_GUEST_INITRD="$d/initrd.gz"
    export LAB_GUEST_KERNEL LAB_GUEST_INITRD
}

# _lab_guest_boot FILE
#
# Print the path of a copy of the guest's kernel or initramfs FILE in the
# current lab: QEMU runs as its own user and may not reach the build tree
# (a clone in a 0700 mktemp directory), while the lab is made for it.
_lab_guest_boot ()
{
    local dst="$LAB/boot/$(basename "$1")"
    if [ ! -f "$dst" ]; then
        mkdir -p -m 0755 "$LAB/boot" || fail "lab-guest: cannot create $LAB/boot"
        cp "$1" "$dst.tmp" && chmod 0644 "$dst.tmp" && mv -f "$dst.tmp" "$dst" ||
            fail "lab-guest: cannot copy $1 into the lab"
    fi
    echo "$dst"
}

# lab_guest_virttype
#
# Print the domain type guests use: kvm when libvirt offers it, a
# throwaway kvm domain starts and the guest kernel boots in it (a nested
# /dev/kvm can start a domain that sits in the BIOS and still hang every
# Linux kernel), qemu (TCG) otherwise.  The answer is kept in the guest
# cache for this host kernel, CPU, QEMU and guest kernel.
_lab_guest_probe_xml ()
{
    cat <<EOF
<domain type='kvm'>
  <name>$1</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$(_lab_xml_escape "$(_lab_guest_boot "$LAB_GUEST_KERNEL")")</kernel>
    <initrd>$(_lab_xml_escape "$(_lab_guest_boot "$LAB_GUEST_INITRD")")</initrd>
    <cmdline>console=ttyS0 loglevel=4 vckpt.probe=1</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <devices>
    <controller type='usb' model='none'/>
    <serial type='file'>
      <source path='$(_lab_xml_escape "$2")'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}
lab_guest_virttype ()
{
    local vt=qemu name xml console key f i lockfd
    if [ -n "${LAB_GUEST_VIRTTYPE:-}" ]; then
        echo "$LAB_GUEST_VIRTTYPE"
        return 0
    fi
    [ -n "${LAB_GUEST_KERNEL:-}" ] || lab_guest_build
    key=$( { uname -r; qemu-system-x86_64 --version;
             grep '^linux-image-' "$(dirname "$LAB_GUEST_KERNEL")/packages";
             grep -m1 '^model name' /proc/cpuinfo; } | sha256sum | cut -c1-16)
    f="$LAB_GUEST_CACHE/virttype-$key"
    # One probe at a time: tests starting together wait for the first.
    exec {lockfd}>"$LAB_GUEST_CACHE/lock"
    flock "$lockfd"
    if [ ! -f "$f" ]; then
        name="vckpt-kvm-probe-$$"
        xml="$LAB/xml/$name.xml"
        console="$LAB/log/$name-console.log"
        _lab_guest_probe_xml "$name" "$console" >"$xml"
        if _lab_virsh domcapabilities --virttype kvm >/dev/null 2>&1 &&
           _lab_virsh create --file "$xml" >/dev/null 2>&1; then
            # The probe's /init prints its marker and powers off at once.
            for (( i = 0; i < ${LAB_GUEST_KVM_PROBE_TIMEOUT:-30} * 10; ++i )); do
                if grep -q -s VCKPT-GUEST-PROBE "$console"; then
                    vt=kvm
                    break
                fi
                sleep 0.1
            done
            _lab_virsh destroy --domain "$name" >/dev/null 2>&1 || true
        fi
        echo "$vt" >"$f.tmp.$$"
        mv -f "$f.tmp.$$" "$f"
        echo "lab-guest: guests run with domain type '$vt' (probed)" >&2
    fi
    exec {lockfd}>&-
    cat "$f"
}

# lab_guest_define NAME [--data-size SIZE] [--memory MIB]
#
# Define a persistent real guest with a fresh ext4 data disk vda.
lab_guest_define ()
{
    local name="$1" size=64M memory=128 vt raw img xml console
    [ -n "$name" ] || fail "lab_guest_define: no domain name"
    shift
    while [ $# -gt 0 ]; do
        case "$1" in
            --data-size) size="$2"; shift 2 ;;
            --memory) memory="$2"; shift 2 ;;
            *) fail "lab_guest_define: unknown option '$1'" ;;
        esac
    done
    [ -n "${LAB_GUEST_KERNEL:-}" ] || lab_guest_build
    vt=$(lab_guest_virttype)

    # mke2fs would pick 1 KiB blocks below 512 MiB; lazy init would keep
    # writing in the background after the first mount.
    raw="$LAB/images/$name-vda.raw"
    img="$LAB/images/$name-vda.qcow2"
    truncate -s "$(_lab_bytes "$size")" "$raw" ||
        fail "lab_guest_define: cannot create $raw"
    mke2fs -q -F -t ext4 -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 \
           -L data "$raw" || fail "lab_guest_define: mke2fs failed"
    qemu-img convert -q -f raw -O qcow2 "$raw" "$img" ||
        fail "lab_guest_define: cannot convert $raw"
    rm -f "$raw"

    console="$LAB/log/$name-console.log"
    xml="$LAB/xml/$name.xml"
    {
        echo "<domain type='$vt'>"
        echo "  <name>$(_lab_xml_escape "$name")</name>"
        echo "  <memory unit='MiB'>$memory</memory>"
        echo "  <vcpu>1</vcpu>"
        echo "  <os>"
        echo "    <type arch='x86_64' machine='pc'>hvm</type>"
        echo "    <kernel>$(_lab_xml_escape "$(_lab_guest_boot "$LAB_GUEST_KERNEL")")</kernel>"
        echo "    <initrd>$(_lab_xml_escape "$(_lab_guest_boot "$LAB_GUEST_INITRD")")</initrd>"
        echo "    <cmdline>console=ttyS0 panic=-1 loglevel=4</cmdline>"
        echo "  </os>"
        echo "  <features><acpi/></features>"
        # A panic reboots (panic=-1): end the domain instead of looping.
        echo "  <on_poweroff>destroy</on_poweroff>"
        echo "  <on_reboot>destroy</on_reboot>"
        echo "  <on_crash>destroy</on_crash>"
        echo "  <devices>"
        _lab_disk_xml "$img" qcow2 vda
        echo "    <controller type='usb' model='none'/>"
        echo "    <serial type='file'>"
        echo "      <source path='$(_lab_xml_escape "$console")' append='on'/>"
        echo "      <target port='0'/>"
        echo "    </serial>"
        echo "    <channel type='unix'>"
        echo "      <target type='virtio' name='org.qemu.guest_agent.0'/>"
        echo "    </channel>"
        echo "    <memballoon model='none'/>"
        echo "  </devices>"
        echo "</domain>"
    } >"$xml"
    _lab_virsh define --validate --file "$xml" >/dev/null ||
        fail "lab_guest_define: cannot define '$name'"
}

# lab_guest_console NAME
#
# Print the file the guest's serial console is logged to.
lab_guest_console ()
{
    echo "$LAB/log/$1-console.log"
}

# _lab_guest_fail NAME MSG
#
# Fail the test, showing the end of the guest's console log.
_lab_guest_fail ()
{
    local f
    f=$(lab_guest_console "$1")
    if [ -f "$f" ]; then
        echo "--- lab-guest: tail of $f" >&2
        tail -n 30 "$f" >&2
        echo "---" >&2
    fi
    fail "$2"
}

# lab_guest_agent NAME JSON
#
# Send one command to the guest agent; print the reply.
lab_guest_agent ()
{
    _lab_virsh qemu-agent-command --domain "$1" "$2"
}

# lab_guest_wait_agent NAME [SECONDS]
#
# Wait until the guest agent answers guest-ping.
lab_guest_wait_agent ()
{
    local name="$1" secs="${2:-$LAB_GUEST_BOOT_TIMEOUT}" t0
    t0=$(date +%s%N)
    while ! lab_guest_agent "$name" '{"execute":"guest-ping"}' >/dev/null 2>&1; do
        if [ "$(lab_domain_state "$name")" != running ]; then
            _lab_guest_fail "$name" "lab_guest_wait_agent: '$name' is $(lab_domain_state "$name")"
        fi
        if [ $(( $(date +%s%N) - t0 )) -gt $(( secs * 1000000000 )) ]; then
            _lab_guest_fail "$name" "lab_guest_wait_agent: no agent in '$name' after $secs s"
        fi
        sleep 0.1
    done
    echo "lab-guest: $name answers the agent after $(( ($(date +%s%N) - t0) / 1000000 )) ms" >&2
}

# lab_guest_start NAME
#
# Start a guest and wait until its agent answers.
lab_guest_start ()
{
    lab_domain_start "$1"
    lab_guest_wait_agent "$1"
}

# lab_guest_exec NAME PATH [ARGS...]
#
# Run PATH in the guest through the agent; print its stdout (its stderr
# goes to ours); return its exit code.
lab_guest_exec ()
{
    local name="$1" req reply pid st i a args='[]'
    shift
    # (jq --args would take an argument like -c for its own option.)
    for a in "${@:2}"; do
        args=$(jq -c -n --argjson l "$args" --arg a "$a" '$l + [$a]')
    done
    req=$(jq -c -n --arg p "$1" --argjson a "$args" \
          '{execute: "guest-exec",
            arguments: {path: $p, arg: $a, "capture-output": true}}') ||
        fail "lab_guest_exec: jq"
    reply=$(lab_guest_agent "$name" "$req") ||
        _lab_guest_fail "$name" "lab_guest_exec: guest-exec $* failed in '$name'"
    pid=$(jq -r '.return.pid' <<<"$reply")
    [[ "$pid" =~ ^[0-9]+$ ]] || fail "lab_guest_exec: odd reply '$reply'"
    for (( i = 0; i < 600; ++i )); do
        st=$(lab_guest_agent "$name" \
             "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":$pid}}") ||
            _lab_guest_fail "$name" "lab_guest_exec: guest-exec-status failed in '$name'"
        if [ "$(jq -r '.return.exited' <<<"$st")" = true ]; then
            jq -r '.return["out-data"] // ""' <<<"$st" | base64 -d
            jq -r '.return["err-data"] // ""' <<<"$st" | base64 -d >&2
            return "$(jq -r '.return.exitcode // 255' <<<"$st")"
        fi
        sleep 0.1
    done
    _lab_guest_fail "$name" "lab_guest_exec: '$*' did not end within 60 s in '$name'"
}

# lab_guest_workload_start NAME [FILES [MAXKIB]]
#
# Start the in-guest workload (tests/guest/workload).
lab_guest_workload_start ()
{
    lab_guest_exec "$1" /bin/guest-workload start "${@:2}" ||
        _lab_guest_fail "$1" "lab_guest_workload_start: failed in '$1'"
}

# lab_guest_workload_stop NAME
#
# Stop the in-guest workload after its current step.
lab_guest_workload_stop ()
{
    lab_guest_exec "$1" /bin/guest-workload stop ||
        _lab_guest_fail "$1" "lab_guest_workload_stop: failed in '$1'"
}

# lab_guest_workload_count NAME
#
# Print how many files the workload has recorded in its manifest.
lab_guest_workload_count ()
{
    local n
    n=$(lab_guest_exec "$1" /bin/guest-workload count) ||
        _lab_guest_fail "$1" "lab_guest_workload_count: failed in '$1'"
    [[ "$n" =~ ^[0-9]+$ ]] || fail "lab_guest_workload_count: odd count '$n'"
    echo "$n"
}

# lab_guest_wait_count NAME N [SECONDS]
#
# Wait until the workload has recorded at least N files.
lab_guest_wait_count ()
{
    local name="$1" want="$2" secs="${3:-120}" t0 n
    t0=$(date +%s%N)
    while :; do
        n=$(lab_guest_workload_count "$name")
        [ "$n" -ge "$want" ] && return 0
        if [ $(( $(date +%s%N) - t0 )) -gt $(( secs * 1000000000 )) ]; then
            _lab_guest_fail "$name" "lab_guest_wait_count: '$name' recorded $n files, not $want, in $secs s"
        fi
        sleep 0.2
    done
}

# lab_guest_shutdown NAME [MODE]
#
# Shut a guest down from inside (virsh shutdown --mode MODE, default
# acpi) and wait until it is shut off.
lab_guest_shutdown ()
{
    local name="$1" mode="${2:-acpi}"
    _lab_virsh shutdown --domain "$name" --mode "$mode" >/dev/null ||
        _lab_guest_fail "$name" "lab_guest_shutdown: virsh shutdown --mode $mode failed"
    local i
    for (( i = 0; i < 600; ++i )); do
        [ "$(lab_domain_state "$name")" = "shut off" ] && return 0
        sleep 0.1
    done
    _lab_guest_fail "$name" "lab_guest_shutdown: '$name' still $(lab_domain_state "$name") 60 s after shutdown --mode $mode"
}

# lab_guest_check_image IMAGE [--replay] [--min N]
#
# Check a guest's data disk image; see the top of this file.
lab_guest_check_image ()
{
    local img="$1" replay='' min=0 s raw feat out rc line sum path
    local -A live=()
    local nrec=0 nlive=0 bad=0 torn=''
    shift
    while [ $# -gt 0 ]; do
        case "$1" in
            --replay) replay=1; shift ;;
            --min) min="$2"; shift 2 ;;
            *) fail "lab_guest_check_image: unknown option '$1'" ;;
        esac
    done
    [ -f "$img" ] || fail "lab_guest_check_image: no image '$img'"
    s=$(mktemp -d "$TMPD/check.XXXXXX")
    raw="$s/fs.raw"
    qemu-img convert -q -O raw "$img" "$raw" ||
        fail "lab_guest_check_image: cannot read '$img'"

    feat=$(dumpe2fs -h "$raw" 2>/dev/null | sed -n 's/^Filesystem features: *//p')
    [ -n "$feat" ] || { echo "lab_guest_check_image: $img: no ext4 file system" >&2; return 1; }
    if [[ " $feat " == *" needs_recovery "* ]]; then
        if [ -z "$replay" ]; then
            echo "lab_guest_check_image: $img: the file system needs journal recovery (not clean directly)" >&2
            return 1
        fi
        rc=0
        out=$(e2fsck -E journal_only -y "$raw" 2>&1) || rc=$?
        if [ "$rc" -gt 1 ]; then
            echo "lab_guest_check_image: $img: journal replay failed ($rc): $out" >&2
            return 1
        fi
        feat=$(dumpe2fs -h "$raw" 2>/dev/null | sed -n 's/^Filesystem features: *//p')
        if [[ " $feat " == *" needs_recovery "* ]]; then
            echo "lab_guest_check_image: $img: still needs recovery after the replay" >&2
            return 1
        fi
    fi
    rc=0
    out=$(e2fsck -fn "$raw" 2>&1) || rc=$?
    if [ "$rc" -ne 0 ] || grep -q -i -e warning -e 'recovery' <<<"$out"; then
        echo "lab_guest_check_image: $img: e2fsck -fn exited $rc:" >&2
        echo "$out" >&2
        return 1
    fi

    # The manifest, then every live file, read with debugfs.
    mkdir "$s/files"
    debugfs -R "dump /manifest $s/manifest" "$raw" >/dev/null 2>"$s/debugfs.err" || true
    if [ ! -f "$s/manifest" ]; then
        echo "lab_guest_check_image: $img: no /manifest: $(cat "$s/debugfs.err")" >&2
        return 1
    fi
    # A last line without its newline is a record the crash cut short:
    # it promised nothing yet.
    if [ -s "$s/manifest" ] && [ "$(tail -c 1 "$s/manifest" | od -An -c | tr -d ' ')" != '\n' ]; then
        torn=$(tail -n 1 "$s/manifest")
        echo "lab_guest_check_image: $img: ignoring the cut-off last record '$torn'" >&2
    fi
    while IFS= read -r line; do
        if [[ "$line" =~ ^F\ ([0-9a-f]{64})\ (/w/f[0-9]+)$ ]]; then
            live[${BASH_REMATCH[2]}]=${BASH_REMATCH[1]}
            nrec=$(( nrec + 1 ))
        elif [[ "$line" =~ ^D\ -\ (/w/f[0-9]+)$ ]]; then
            unset "live[${BASH_REMATCH[1]}]"
        else
            echo "lab_guest_check_image: $img: bad manifest record '$line'" >&2
            return 1
        fi
    done < <(if [ -n "$torn" ]; then head -n -1 "$s/manifest"; else cat "$s/manifest"; fi)
    : >"$s/cmds"
    for path in "${!live[@]}"; do
        echo "dump $path $s/files/${path##*/}" >>"$s/cmds"
    done
    debugfs -f "$s/cmds" "$raw" >/dev/null 2>"$s/debugfs.err" || true
    for path in "${!live[@]}"; do
        nlive=$(( nlive + 1 ))
        if [ ! -f "$s/files/${path##*/}" ]; then
            echo "lab_guest_check_image: $img: recorded file $path is missing" >&2
            bad=$(( bad + 1 ))
            continue
        fi
        sum=$(sha256sum <"$s/files/${path##*/}")
        if [ "${sum%% *}" != "${live[$path]}" ]; then
            echo "lab_guest_check_image: $img: $path has sha256 ${sum%% *}, recorded ${live[$path]}" >&2
            bad=$(( bad + 1 ))
        fi
    done
    if [ "$bad" -ne 0 ]; then
        return 1
    fi
    if [ "$nrec" -lt "$min" ]; then
        echo "lab_guest_check_image: $img: $nrec files recorded, expected at least $min" >&2
        return 1
    fi
    rm -rf "$s"
    echo "$nlive live files intact ($nrec recorded)"
}
