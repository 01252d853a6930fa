#!/usr/bin/env bash
# restore --define: the new domain shares no host state with the original:
# the UEFI variables file (<nvram>) and shared directories (<filesystem>)
# of the backed-up domain XML are left out, with a warning, and the
# original's files are untouched.
. "${srcdir:-.}/restore-functions.sh"
requires python3 --version
lab_start
lab_domain_define "$dom" --disk 16M
lab_domain_start "$dom"
lab_write "$dom" vda 0x5a 0 1M
vckpt -q backup "$dom" --full --name n1 --repo "$R"

# The backed-up XML of a UEFI guest with a shared directory (the lab's
# guests boot the BIOS; libvirt only checks the firmware when it starts).
printf 'original nvram\n' > "$TMPD/orig_VARS.fd"
mkdir "$TMPD/shared"
x="$R/$dom/$(vckpt --json list-backups "$dom" --repo "$R" | jq -r '.backups[0].domain_xml // empty')"
if [ ! -f "$x" ]; then x=$(find "$R/$dom" -name '*.domain.xml' | head -1); fi
test -f "$x"
python3 - "$x" "$TMPD/orig_VARS.fd" "$TMPD/shared" <<'PY'
import sys, xml.etree.ElementTree as ET
path, nvram, shared = sys.argv[1:]
t = ET.parse(path); d = t.getroot(); os_ = d.find('os')
ET.SubElement(os_, 'loader', readonly='yes', type='pflash').text = '/usr/share/OVMF/OVMF_CODE.fd'
ET.SubElement(os_, 'nvram').text = nvram
fs = ET.SubElement(d.find('devices'), 'filesystem', type='mount', accessmode='passthrough')
ET.SubElement(fs, 'source', dir=shared); ET.SubElement(fs, 'target', dir='share')
t.write(path)
PY
grep -q "orig_VARS.fd" "$x"

mkdir "$TMPD/to"
expect_exit 0 vckpt restore "$dom" --repo "$R" --to "$TMPD/to" --define copy
assert_grep "<nvram> of the original domain is left out" "$err"
assert_grep "<filesystem> of the original domain is left out" "$err"
virsh dumpxml copy > "$TMPD/copy.xml"
if grep -q "orig_VARS.fd\|$TMPD/shared" "$TMPD/copy.xml"; then
    fail "the new domain shares the original's nvram or directory"
fi
grep -q "$TMPD/to/copy-vda.qcow2" "$TMPD/copy.xml"
assert_eq "original nvram" "$(cat "$TMPD/orig_VARS.fd")"
lab_expect_pattern "$TMPD/to/copy-vda.qcow2" 0 1M 0x5a
