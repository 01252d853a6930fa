#!/usr/bin/env bash
# restore --define: character devices that use a host path (a serial
# console logging into a file, a guest agent channel on a given socket)
# are not shared with the original: the new domain gets a pty and a socket
# of its own, with a warning, and both domains run at the same time.
. "${srcdir:-.}/restore-functions.sh"
requires python3 --version
lab_start
lab_domain_define "$dom" --disk 16M
virsh dumpxml --inactive "$dom" > "$TMPD/dom.xml"
python3 - "$TMPD/dom.xml" "$TMPD/console.log" "$TMPD/agent.sock" <<'PY'
import sys, xml.etree.ElementTree as ET
path, log, sock = sys.argv[1:]
t = ET.parse(path); dev = t.getroot().find('devices')
s = ET.SubElement(dev, 'serial', type='file')
ET.SubElement(s, 'source', path=log); ET.SubElement(s, 'target', port='0')
c = ET.SubElement(dev, 'console', type='file')
ET.SubElement(c, 'source', path=log); ET.SubElement(c, 'target', type='serial', port='0')
ch = ET.SubElement(dev, 'channel', type='unix')
ET.SubElement(ch, 'source', mode='bind', path=sock)
ET.SubElement(ch, 'target', type='virtio', name='org.qemu.guest_agent.0')
t.write(path)
PY
virsh define "$TMPD/dom.xml"
lab_domain_start "$dom"
test -S "$TMPD/agent.sock"
lab_write "$dom" vda 0x5b 0 1M
vckpt -q backup "$dom" --full --name s1 --repo "$R"

mkdir "$TMPD/to"
expect_exit 0 vckpt restore "$dom" --repo "$R" --to "$TMPD/to" --define copy
assert_grep "<serial type='file'> of the original uses $TMPD/console.log: the new one gets a pty" "$err"
assert_grep "<channel type='unix'> of the original uses $TMPD/agent.sock: the new one gets a socket of its own" "$err"
virsh dumpxml --inactive copy > "$TMPD/copy.xml"
if grep -q -e "$TMPD/console.log" -e "$TMPD/agent.sock" "$TMPD/copy.xml"; then
    cat "$TMPD/copy.xml" >&2
    fail "the new domain shares the original's console log or agent socket"
fi
# Both run at once: the copy would fail to bind the original's socket.
lab_domain_start copy
test "$(lab_domain_state "$dom")" = running
test -S "$TMPD/agent.sock" || fail "the original's agent socket is gone"
lab_domain_stop copy
lab_expect_pattern "$TMPD/to/copy-vda.qcow2" 0 1M 0x5b
