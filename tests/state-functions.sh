# Shared set-up of the tests of the state a backup keeps besides the disks
# (UEFI variables, TPM; tests/state.am).
#
#   . "${srcdir:-.}/state-functions.sh"
#
# Sources functions.sh, turns on tracing and errexit, and defines:
#   sf_define NAME [--tpm]     a UEFI domain (OVMF, one 16M disk, 128 MiB)
#                              whose variables file is $TMPD/NAME_VARS.fd,
#                              made from OVMF's template; --tpm adds an
#                              emulated TPM 2.0 (swtpm)
#   sf_nvram_file ID           the NVRAM copy of backup ID in $R, absolute
#   sf_sha FILE                the SHA-256 of FILE
#   sf_start ARGS...           vckpt in the background, for a test hook
#                              (functions.sh's wait_stopped $pid)
. "${srcdir:-.}/functions.sh"
set -e -x
requires_root
export VCKPT_XMLDIR=${VCKPT_XMLDIR:-$abs_top_srcdir/xml}

dom=sf
R=$TMPD/repo
SF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
SF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd

sf_define ()
{
    local name="$1" tpm=
    [ "${2:-}" = --tpm ] && tpm=1
    requires test -r "$SF_CODE" -a -r "$SF_VARS"   # apt-get install ovmf
    requires python3 --version
    lab_domain_define "$name" --disk 16M --memory 128
    cp "$SF_VARS" "$TMPD/${name}_VARS.fd"
    virsh dumpxml "$name" > "$TMPD/$name.xml"
    python3 - "$TMPD/$name.xml" "$SF_CODE" "$SF_VARS" "$TMPD/${name}_VARS.fd" "$tpm" <<'PY'
import sys, xml.etree.ElementTree as ET
path, code, tmpl, nvram, tpm = sys.argv[1:]
t = ET.parse(path); d = t.getroot(); os_ = d.find('os')
ET.SubElement(os_, 'loader', readonly='yes', type='pflash').text = code
ET.SubElement(os_, 'nvram', template=tmpl).text = nvram
if tpm:
    dev = ET.SubElement(d.find('devices'), 'tpm', model='tpm-crb')
    ET.SubElement(dev, 'backend', type='emulator', version='2.0')
t.write(path)
PY
    virsh define "$TMPD/$name.xml" >/dev/null
}

sf_nvram_file ()
{
    echo "$R/$dom/$(xmllint --xpath "string(/manifest/backup[@id='$1']/state/nvram/file)" \
                    "$R/$dom/manifest.xml")"
}

sf_sha ()
{
    sha256sum "$1" | cut -d' ' -f1
}

# sf_start ARGS...     vckpt in the background (stdout $TMPD/o, stderr
#                      $TMPD/e), sets $pid
sf_start ()
{
    "$VCKPT" "$@" > "$TMPD/o" 2> "$TMPD/e" &
    pid=$!
}

