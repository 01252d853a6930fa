/* Unit test of vk_imageop_recover and vk_imageop_pending (lib/imageop.c),
 * the calls `vckpt repair` makes, on libvirt's test driver and real qcow2
 * images: a journal of an overlay whose overlay is made but whose
 * definition still names the old image, and a journal of a commit whose
 * steps have not run.  A dry run describes and changes nothing; the real
 * run finishes (definition switched, data and bitmaps in the base, journal
 * gone); a second run finds nothing.  Journals the schema or journal.c
 * refuse stay, and what journal.c builds reads back (lib/journal.c).
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libvirt/libvirt.h>

#include "fileio.h"
#include "imageop.h"
#include "journal.h"
#include "manifest.h"
#include "process.h"
#include "qcow2.h"
#include "util.h"
#include "virt.h"
#include "xml.h"

static int failed;

#define CHECK(cond, ...) do {                    \
    if (!(cond)) {                               \
      fprintf(stderr, "FAIL: line %d: ", __LINE__); \
      fprintf(stderr, __VA_ARGS__);              \
      fputc('\n', stderr);                       \
      failed = 1;                                \
    }                                            \
  } while (0)

static char *dir;
static int messages;

static void
count_message(void *opaque, enum vk_msg_level level, const char *text)
{
  (void)opaque;
  (void)level;
  fprintf(stderr, "message: %s\n", text);
  messages++;
}

static const struct vk_flow_cb cb = { .message = count_message };

static int
qemu_img(const char *a1, const char *a2, const char *a3, const char *a4, const char *a5,
         const char *a6, const char *a7, const char *a8)
{
  char *argv[] = { (char *)QEMU_IMG, (char *)a1, (char *)a2, (char *)a3, (char *)a4,
                   (char *)a5, (char *)a6, (char *)a7, (char *)a8, NULL };
  return vk_run(argv);
}

/* The file disk vda of DOM uses now (inactive definition). */
static char *
source_of(virDomainPtr dom)
{
  struct vk_disks d = { 0 };
  if (vk_domain_disks(dom, VIR_DOMAIN_XML_INACTIVE, &d) < 0)
    return NULL;
  const struct vk_disk *v = vk_disks_find(&d, "vda");
  char *s = v && v->source ? vk_xstrdup(v->source) : NULL;
  vk_disks_clear(&d);
  return s;
}

static virDomainPtr
define(virConnectPtr conn, const char *name, const char *image)
{
  xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
  xmlNodePtr root = xmlNewNode(NULL, (const xmlChar *)"domain");
  xmlDocSetRootElement(doc, root);
  xmlNewProp(root, (const xmlChar *)"type", (const xmlChar *)"test");
  vk_xml_add_text(root, "name", name);
  vk_xml_add_text(root, "memory", "65536");
  xmlNodePtr os = xmlNewChild(root, NULL, (const xmlChar *)"os", NULL);
  vk_xml_add_text(os, "type", "hvm");
  xmlNodePtr devs = xmlNewChild(root, NULL, (const xmlChar *)"devices", NULL);
  xmlNodePtr disk = xmlNewChild(devs, NULL, (const xmlChar *)"disk", NULL);
  xmlNewProp(disk, (const xmlChar *)"type", (const xmlChar *)"file");
  xmlNewProp(disk, (const xmlChar *)"device", (const xmlChar *)"disk");
  xmlNodePtr drv = xmlNewChild(disk, NULL, (const xmlChar *)"driver", NULL);
  xmlNewProp(drv, (const xmlChar *)"name", (const xmlChar *)"qemu");
  xmlNewProp(drv, (const xmlChar *)"type", (const xmlChar *)"qcow2");
  xmlNodePtr src = xmlNewChild(disk, NULL, (const xmlChar *)"source", NULL);
  xmlNewProp(src, (const xmlChar *)"file", (const xmlChar *)image);
  xmlNodePtr tgt = xmlNewChild(disk, NULL, (const xmlChar *)"target", NULL);
  xmlNewProp(tgt, (const xmlChar *)"dev", (const xmlChar *)"vda");
  xmlNewProp(tgt, (const xmlChar *)"bus", (const xmlChar *)"virtio");
  char *xml = vk_xml_format(doc);
  xmlFreeDoc(doc);
  virDomainPtr dom = virDomainDefineXML(conn, xml);
  free(xml);
  return dom;
}

/* Write the journal of DOM: KIND, one disk vda with these attributes. */
static int
journal(virDomainPtr dom, const char *kind, const char *base, const char *image,
        const char *tmp, const char *active)
{
  char uuid[VIR_UUID_STRING_BUFLEN];
  if (virDomainGetUUIDString(dom, uuid) < 0)
    return -1;
  xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
  xmlNodePtr root = xmlNewNode(NULL, (const xmlChar *)"imageop");
  xmlDocSetRootElement(doc, root);
  xmlNewProp(root, (const xmlChar *)"kind", (const xmlChar *)kind);
  xmlNewProp(root, (const xmlChar *)"uuid", (const xmlChar *)uuid);
  xmlNodePtr d = xmlNewChild(root, NULL, (const xmlChar *)"disk", NULL);
  xmlNewProp(d, (const xmlChar *)"target", (const xmlChar *)"vda");
  xmlNewProp(d, (const xmlChar *)"base", (const xmlChar *)base);
  xmlNewProp(d, (const xmlChar *)"image", (const xmlChar *)image);
  if (tmp)
    xmlNewProp(d, (const xmlChar *)"tmp", (const xmlChar *)tmp);
  if (active)
    xmlNewProp(d, (const xmlChar *)"active", (const xmlChar *)active);
  char *xml = vk_xml_format(doc);
  xmlFreeDoc(doc);
  char *name = vk_xasprintf("imageop-%s.xml", uuid);
  char *path = vk_xasprintf("%s/%s", vk_state_dir(), name);
  int r = vk_write_atomic(AT_FDCWD, path, path, xml, false);
  free(name);
  free(path);
  free(xml);
  return r;
}

static bool
has_bitmap(const char *image, const char *name)
{
  struct vk_image img = { 0 };
  char *err = NULL;
  if (vk_image_open(image, "qcow2", &img, &err) < 0) {
    free(err);
    return false;
  }
  bool r = vk_image_find_bitmap(&img, name) != NULL;
  vk_image_clear(&img);
  return r;
}

int
main(void)
{
  if (access(QEMU_IMG, X_OK) < 0) {
    fprintf(stderr, "SKIP: no %s\n", QEMU_IMG);
    return 77;
  }
  vk_virt_init();
  vk_xml_init();
  const char *t = getenv("TMPDIR");
  dir = vk_xasprintf("%s/vckpt-imageop.XXXXXX", t && *t ? t : "/tmp");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  char *state = vk_xasprintf("%s/state", dir);
  setenv("VCKPT_STATE_DIR", state, 1);
  if (mkdir(state, 0700) < 0) {
    perror(state);
    return 1;
  }
  char *base = vk_xasprintf("%s/vda.qcow2", dir);
  char *over = vk_xasprintf("%s/vda.s1.qcow2", dir);
  char *tmp = vk_xasprintf("%s/.vckpt-0011223344556677.vda.s1.qcow2", dir);
  virConnectPtr conn = virConnectOpen("test:///default");
  CHECK(conn, "cannot open test:///default");
  if (!conn)
    return 1;

  /* An overlay made, the definition not switched yet. */
  CHECK(qemu_img("create", "-q", "-f", "qcow2", base, "16M", NULL, NULL) == 0, "create");
  CHECK(qemu_img("bitmap", "--add", "-f", "qcow2", base, "c1", NULL, NULL) == 0, "bitmap");
  char *mk[] = { (char *)QEMU_IMG, "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                 "vda.qcow2", over, NULL };
  CHECK(vk_run(mk) == 0, "overlay");
  CHECK(qemu_img("bitmap", "--add", "-f", "qcow2", over, "c1", NULL, NULL) == 0, "bitmap");
  virDomainPtr dom = define(conn, "rec", base);
  CHECK(dom, "define");
  CHECK(journal(dom, "overlay", base, over, tmp, NULL) == 0, "journal");
  char *what = NULL;
  CHECK(vk_imageop_pending(dom, &what) == 1 && what && strstr(what, "overlay of disk vda"),
        "pending overlay: %s", what ? what : "(none)");
  free(what);

  messages = 0;
  CHECK(vk_imageop_recover(conn, dom, true, &cb) == 1, "dry run of the overlay");
  CHECK(messages > 0, "the dry run describes nothing");
  char *s = source_of(dom);
  CHECK(s && strcmp(s, base) == 0, "the dry run switched the definition: %s", s);
  free(s);
  CHECK(vk_imageop_pending(dom, &what) == 1, "the dry run removed the journal");
  free(what);

  CHECK(vk_imageop_recover(conn, dom, false, &cb) == 1, "recover the overlay");
  s = source_of(dom);
  CHECK(s && strcmp(s, over) == 0, "the definition names %s, not the overlay", s);
  free(s);
  CHECK(vk_imageop_pending(dom, &what) == 0 && !what, "the journal is still there");
  CHECK(vk_imageop_recover(conn, dom, false, &cb) == 0, "a second recovery found work");

  /* A commit of the overlay into the base, not started. */
  CHECK(qemu_img("bitmap", "--add", "-f", "qcow2", over, "c2", NULL, NULL) == 0, "bitmap");
  char *io[] = { "qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 1M", over, NULL };
  CHECK(vk_run(io) == 0, "qemu-io");
  CHECK(journal(dom, "commit", base, over, NULL, over) == 0, "journal");
  CHECK(vk_imageop_pending(dom, &what) == 1 && what && strstr(what, "commit of"),
        "pending commit: %s", what ? what : "(none)");
  free(what);
  CHECK(vk_imageop_recover(conn, dom, true, &cb) == 1, "dry run of the commit");
  CHECK(!has_bitmap(base, "c2"), "the dry run changed the base");
  CHECK(vk_imageop_recover(conn, dom, false, &cb) == 1, "recover the commit");
  s = source_of(dom);
  CHECK(s && strcmp(s, base) == 0, "the definition names %s, not the base", s);
  free(s);
  CHECK(has_bitmap(base, "c1") && has_bitmap(base, "c2"), "the base lacks a bitmap");
  char *cmp[] = { (char *)QEMU_IMG, "compare", "-q", "-f", "qcow2", "-F", "qcow2", base, over,
                  NULL };
  CHECK(vk_run(cmp) == 0, "the base does not hold the committed data");
  CHECK(vk_imageop_pending(dom, &what) == 0, "the commit journal is still there");
  free(what);

  /* A journal of another domain's UUID, garbage, or one the schema refuses
   * (a relative image name, an overlay without its temporary name) is an
   * error, and stays.
   */
  virDomainPtr other = define(conn, "other", base);
  char uuid[VIR_UUID_STRING_BUFLEN];
  virDomainGetUUIDString(other, uuid);
  char duuid[VIR_UUID_STRING_BUFLEN];
  virDomainGetUUIDString(dom, duuid);
  char *bad = vk_xasprintf("%s/imageop-%s.xml", state, uuid);
  char *bads[] = {
    vk_xstrdup("<imageop kind='commit'/>"),
    vk_xasprintf("<imageop kind='overlay' uuid='%s'><disk target='vda' base='%s' "
                 "image='%s' tmp='%s'/></imageop>", duuid, base, over, tmp),
    vk_xasprintf("<imageop kind='overlay' uuid='%s'><disk target='vda' base='vda.qcow2' "
                 "image='%s' tmp='%s'/></imageop>", uuid, over, tmp),
    vk_xasprintf("<imageop kind='overlay' uuid='%s'><disk target='vda' base='%s' "
                 "image='%s'/></imageop>", uuid, base, over),
  };
  for (size_t i = 0; i < sizeof bads / sizeof *bads; i++) {
    CHECK(vk_write_atomic(AT_FDCWD, bad, bad, bads[i], true) == 0, "write");
    CHECK(vk_imageop_recover(conn, other, false, &cb) == -1, "a bad journal was accepted: %s",
          bads[i]);
    CHECK(vk_imageop_pending(other, &what) == -1, "a bad journal is pending: %s", bads[i]);
    CHECK(access(bad, F_OK) == 0, "a bad journal was removed: %s", bads[i]);
    free(bads[i]);
  }
  unlink(bad);
  free(bad);

  /* What journal.c builds is valid and reads back as it was. */
  struct vk_imageop_journal_disk jd = {
    .target = (char *)"vda", .base = base, .image = over, .active = over,
    .above = (char *)"/images/vda.s2.qcow2",
  };
  struct vk_imageop_journal jb = {
    .kind = VK_IMAGEOP_COMMIT, .domain = (char *)"rec", .uuid = duuid, .n = 1, .d = &jd,
  };
  xmlDocPtr doc = vk_imageop_journal_build(&jb);
  xmlRelaxNGPtr schema = NULL;
  CHECK(vk_manifest_validate(&schema, doc, "built", true) == 0, "the built journal is invalid");
  struct vk_imageop_journal jr = { .kind = VK_IMAGEOP_OVERLAY };
  CHECK(vk_imageop_journal_parse(doc, "built", duuid, &jr) == 0 &&
        jr.kind == VK_IMAGEOP_COMMIT && jr.n == 1 && strcmp(jr.d[0].target, "vda") == 0 &&
        strcmp(jr.d[0].base, base) == 0 && strcmp(jr.d[0].image, over) == 0 &&
        strcmp(jr.d[0].active, over) == 0 && !jr.d[0].tmp &&
        strcmp(jr.d[0].above, jd.above) == 0 && strcmp(jr.domain, "rec") == 0,
        "the built journal reads back otherwise");
  vk_imageop_journal_clear(&jr);
  xmlRelaxNGFree(schema);
  xmlFreeDoc(doc);

  virDomainFree(other);
  virDomainFree(dom);
  virConnectClose(conn);
  char *rm[] = { "rm", "-rf", dir, NULL };
  vk_run(rm);
  free(base);
  free(over);
  free(tmp);
  free(state);
  free(dir);
  if (!failed)
    printf("vk_imageop_recover: OK\n");
  return failed;
}
