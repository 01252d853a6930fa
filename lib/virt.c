/* vckpt - libvirt access. */
#include <config.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <libvirt/virterror.h>
#include <libxml/uri.h>

#include "access.h"
#include "cleanup.h"
#include "fileio.h"
#include "virt.h"
#include "xml.h"

void
vk_cleanup_conn(void *ptr)
{
  virConnectPtr c = *(virConnectPtr *)ptr;
  if (c)
    virConnectClose(c);
}

void
vk_cleanup_domain(void *ptr)
{
  virDomainPtr d = *(virDomainPtr *)ptr;
  if (d)
    virDomainFree(d);
}

void
vk_cleanup_checkpoint(void *ptr)
{
  virDomainCheckpointPtr c = *(virDomainCheckpointPtr *)ptr;
  if (c)
    virDomainCheckpointFree(c);
}

/* The last error libvirt raised, copied when it is raised: libvirt's own
 * last error is reset by any later API call, even virDomainGetName() in
 * the arguments of the report that is about to print it.
 */
static int last_code = VIR_ERR_OK;
static char last_msg[1024];

static void
keep_virt_error(void *opaque, virErrorPtr err)
{
  last_code = err ? err->code : VIR_ERR_INTERNAL_ERROR;
  snprintf(last_msg, sizeof last_msg, "%s",
           err && err->message ? err->message : "unknown libvirt error");
}

void
vk_virt_init(void)
{
  virSetErrorFunc(NULL, keep_virt_error);
  /* Before any connection: backup jobs are followed through events. */
  virEventRegisterDefaultImpl();
}

int
vk_virt_last_code(void)
{
  return last_code;
}

const char *
vk_virt_last_message(void)
{
  return last_msg[0] ? last_msg : "unknown libvirt error";
}

/* Map libvirt error codes onto our exit codes. */
static enum vk_exit
exit_for_virt_code(int code)
{
  switch (code) {
  case VIR_ERR_NO_DOMAIN:
  case VIR_ERR_NO_DOMAIN_CHECKPOINT:
  case VIR_ERR_NO_DOMAIN_BACKUP:
  case VIR_ERR_NO_STORAGE_VOL:
    return VK_EXIT_NOT_FOUND;
  /* Another job holds the domain: libvirt timed out waiting for its job
   * lock (virDomainObjBeginJobInternal), or a block copy runs on a disk
   * (qemuDomainDiskBlockJobIsActive).  Decided on the code alone: the
   * message is translated in the daemon's locale.
   */
  case VIR_ERR_OPERATION_TIMEOUT:
  case VIR_ERR_BLOCK_COPY_ACTIVE:
    return VK_EXIT_BUSY;
  default:
    return VK_EXIT_FAILURE;
  }
}

void
vk_virt_error(const char *fmt, ...)
{
  char *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  va_end(ap);
  vk_error(exit_for_virt_code(last_code), "%s: %s", msg ? msg : fmt, vk_virt_last_message());
  free(msg);
}

void
vk_virt_job_error(const char *fmt, ...)
{
  char *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  va_end(ap);
  /* virDomainBackupBegin raises VIR_ERR_OPERATION_INVALID when a backup
   * job of the domain is already registered (qemuBackupBegin).
   */
  enum vk_exit ex = last_code == VIR_ERR_OPERATION_INVALID ? VK_EXIT_BUSY
                                                           : exit_for_virt_code(last_code);
  vk_error(ex, "%s: %s", msg ? msg : fmt, vk_virt_last_message());
  free(msg);
}

virConnectPtr
vk_connect(const char *uri)
{
  virConnectPtr c = virConnectOpen(uri);
  if (!c) {
    const char *u = uri ? uri : getenv("LIBVIRT_DEFAULT_URI");
    if (u)
      vk_virt_error("cannot connect to '%s'", u);
    else
      vk_virt_error("cannot connect to the default libvirt URI");
    return NULL;
  }
  /* No client keepalive: vckpt runs the event loop only while it waits for
   * a job, so pings would go unanswered while it hashes a large backup and
   * the connection be dropped.  A dead daemon shows up as a failed call.
   */
  virConnectSetKeepAlive(c, -1, 0);
  return c;
}

/* S if it may be recorded (printable ASCII without spaces, 1 to MAX
 * characters: the manifest's schema), else NULL after freeing it.
 */
static char *
recordable(char *s, size_t max)
{
  size_t n = s ? strlen(s) : 0;
  bool ok = n > 0 && n <= max;
  for (size_t i = 0; ok && i < n; i++)
    ok = s[i] > ' ' && s[i] <= '~';
  if (!ok) {
    free(s);
    return NULL;
  }
  return s;
}

void
vk_virt_host(virConnectPtr conn, char **name, char **uri)
{
  *name = recordable(virConnectGetHostname(conn), 255);
  *uri = *name ? recordable(virConnectGetURI(conn), 1024) : NULL;
}

virDomainPtr
vk_domain_lookup(virConnectPtr conn, const char *name)
{
  if (vk_check_lookup_name("domain", name) < 0)
    return NULL;
  virDomainPtr d = virDomainLookupByName(conn, name);
  if (!d) {
    if (vk_virt_last_code() == VIR_ERR_NO_DOMAIN)
      vk_error(VK_EXIT_NOT_FOUND, "domain '%s' not found", name);
    else
      vk_virt_error("cannot look up domain '%s'", name);
  }
  return d;
}

virDomainCheckpointPtr
vk_checkpoint_lookup(virDomainPtr dom, const char *name)
{
  if (vk_check_lookup_name("checkpoint", name) < 0)
    return NULL;
  virDomainCheckpointPtr c = virDomainCheckpointLookupByName(dom, name, 0);
  if (!c) {
    if (vk_virt_last_code() == VIR_ERR_NO_DOMAIN_CHECKPOINT)
      vk_error(VK_EXIT_NOT_FOUND, "checkpoint '%s' not found in domain '%s'",
               name, virDomainGetName(dom));
    else
      vk_virt_error("cannot look up checkpoint '%s'", name);
  }
  return c;
}

char *
vk_conn_remote_host(virConnectPtr conn)
{
  CLEANUP_FREE char *uri = virConnectGetURI(conn);
  xmlURIPtr u = uri ? xmlParseURI(uri) : NULL;
  char *host = u && u->server && *u->server ? vk_xstrdup(u->server) : NULL;
  if (u)
    xmlFreeURI(u);
  return host;
}

bool
vk_domain_is_active(virDomainPtr dom)
{
  return virDomainIsActive(dom) == 1;
}

int
vk_domain_xml_read(virDomainPtr dom, unsigned int flags, struct vk_domain_xml *x)
{
  x->doc = NULL;
  x->ctx = NULL;
  CLEANUP_FREE char *xml = virDomainGetXMLDesc(dom, flags);
  if (!xml) {
    vk_virt_error("cannot read the XML of domain '%s'", virDomainGetName(dom));
    return -1;
  }
  x->doc = vk_xml_parse(xml, "domain XML");
  if (!x->doc)
    return -1;
  x->ctx = xmlXPathNewContext(x->doc);
  if (!x->ctx)
    abort();
  return 0;
}

void
vk_domain_xml_clear(struct vk_domain_xml *x)
{
  if (x->ctx)
    xmlXPathFreeContext(x->ctx);
  if (x->doc)
    xmlFreeDoc(x->doc);
  x->ctx = NULL;
  x->doc = NULL;
}

void
vk_cleanup_domain_xml(void *ptr)
{
  vk_domain_xml_clear(ptr);
}

xmlNodePtr
vk_domain_xml_disk(const struct vk_domain_xml *x, const char *target)
{
  CLEANUP_XPATHOBJ xmlXPathObjectPtr disks =
    vk_xpath_nodes(x->ctx, NULL, "/domain/devices/disk[target/@dev]");
  for (int i = 0; i < vk_xpath_count(disks); i++) {
    CLEANUP_FREE char *t = vk_xpath_string(x->ctx, disks->nodesetval->nodeTab[i],
                                           "target/@dev");
    if (t && strcmp(t, target) == 0)
      return disks->nodesetval->nodeTab[i];
  }
  return NULL;
}

/* The first child element of NODE named NAME, or NULL. */
static xmlNodePtr
child_element(xmlNodePtr node, const char *name)
{
  for (xmlNodePtr c = node->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE && xmlStrcmp(c->name, (const xmlChar *)name) == 0)
      return c;
  return NULL;
}

/* Point the <disk> NODE of domain DOMNAME at M->to (see
 * vk_domain_move_disks): 1 if it changed, 0 if not, -1 after reporting.
 */
static int
move_disk(xmlNodePtr node, const char *domname, const struct vk_disk_move *m)
{
  int changed = 0;
  xmlNodePtr src = child_element(node, "source");
  CLEANUP_FREE char *cur = src ? (char *)xmlGetProp(src, (const xmlChar *)"file") : NULL;
  if (m->from && !cur) {
    vk_error(VK_EXIT_NOT_FOUND, "domain '%s' has no file disk '%s' any more", domname,
             m->target);
    return -1;
  }
  /* The definition may name the image through another path (a linked
   * directory) than the resolved one vckpt works with: the same file is
   * the same image.
   */
  if (src && !vk_same_image(cur, m->to)) {
    if (m->from && !vk_same_image(cur, m->from)) {
      CLEANUP_FREE char *pc = vk_printable(cur);
      CLEANUP_FREE char *pf = vk_printable(m->from);
      vk_error(VK_EXIT_FAILURE, "disk %s of domain '%s' uses %s, not %s: its definition "
               "changed meanwhile; not touching it", m->target, domname, pc, pf);
      return -1;
    }
    xmlSetProp(src, (const xmlChar *)"file", (const xmlChar *)m->to);
    changed = 1;
  }
  for (xmlNodePtr c = node->children, next; c; c = next) {
    next = c->next;
    if (c->type == XML_ELEMENT_NODE && xmlStrcmp(c->name, (const xmlChar *)"backingStore") == 0) {
      xmlUnlinkNode(c);
      xmlFreeNode(c);
      changed = 1;
    }
  }
  return changed;
}

int
vk_domain_move_disks(virDomainPtr dom, size_t n, const struct vk_disk_move *moves)
{
  const char *domname = virDomainGetName(dom);
  CLEANUP_DOMAIN_XML struct vk_domain_xml x = { NULL, NULL };
  if (vk_domain_xml_read(dom, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE, &x) < 0)
    return -1;
  bool changed = false;
  for (size_t i = 0; i < n; i++) {
    xmlNodePtr node = vk_domain_xml_disk(&x, moves[i].target);
    if (!node && !moves[i].from)
      continue;
    if (!node) {
      vk_error(VK_EXIT_NOT_FOUND, "domain '%s' has no file disk '%s' any more", domname,
               moves[i].target);
      return -1;
    }
    int r = move_disk(node, domname, &moves[i]);
    if (r < 0)
      return -1;
    changed |= r > 0;
  }
  if (!changed)
    return 0;
  CLEANUP_FREE char *out = vk_xml_format(x.doc);
  virDomainPtr d = virDomainDefineXML(virDomainGetConnect(dom), out);
  if (!d) {
    vk_virt_error("cannot define domain '%s' with its new disk images", domname);
    return -1;
  }
  virDomainFree(d);
  return 0;
}

int
vk_domain_disks(virDomainPtr dom, unsigned int xml_flags, struct vk_disks *out)
{
  CLEANUP_DOMAIN_XML struct vk_domain_xml x = { NULL, NULL };
  if (vk_domain_xml_read(dom, xml_flags, &x) < 0)
    return -1;
  xmlXPathContextPtr ctx = x.ctx;
  CLEANUP_XPATHOBJ xmlXPathObjectPtr disks =
    vk_xpath_nodes(ctx, NULL, "/domain/devices/disk[target/@dev]");
  int n = vk_xpath_count(disks);

  out->n = 0;
  out->disk = vk_xcalloc(n, sizeof *out->disk);
  for (int i = 0; i < n; i++) {
    xmlNodePtr node = disks->nodesetval->nodeTab[i];
    struct vk_disk *d = &out->disk[out->n++];
    d->target = vk_xpath_string(ctx, node, "target/@dev");
    d->type = vk_xpath_string(ctx, node, "@type");
    d->device = vk_xpath_string(ctx, node, "@device");
    if (!d->device)
      d->device = vk_xstrdup("disk");
    d->source = vk_xpath_string(ctx, node, "source/@file");
    if (!d->source)
      d->source = vk_xpath_string(ctx, node, "source/@dev");
    d->format = vk_xpath_string(ctx, node, "driver/@type");
    CLEANUP_XPATHOBJ xmlXPathObjectPtr ro = vk_xpath_nodes(ctx, node, "readonly");
    d->readonly = vk_xpath_count(ro) > 0;
  }
  return 0;
}

const struct vk_disk *
vk_disks_find(const struct vk_disks *d, const char *target)
{
  for (size_t i = 0; i < d->n; i++)
    if (strcmp(d->disk[i].target, target) == 0)
      return &d->disk[i];
  return NULL;
}

int
vk_disks_check(const struct vk_disks *d, const char *domname, char *const *targets)
{
  for (size_t i = 0; targets && targets[i]; i++) {
    const struct vk_disk *disk = vk_disks_find(d, targets[i]);
    if (!disk) {
      char **names = vk_xcalloc(d->n + 1, sizeof *names);
      for (size_t j = 0; j < d->n; j++)
        names[j] = d->disk[j].target;
      CLEANUP_FREE char *list = vk_strv_join(names, ", ");
      free(names);
      vk_error(VK_EXIT_NOT_FOUND, "disk '%s' not found in domain '%s' (disks: %s)",
               targets[i], domname, d->n ? list : "none");
      return -1;
    }
    if (strcmp(disk->device, "disk") != 0) {
      vk_error(VK_EXIT_USAGE, "disk '%s' of domain '%s' is a %s, not a disk",
               targets[i], domname, disk->device);
      return -1;
    }
  }
  return 0;
}

void
vk_cleanup_disks(void *ptr)
{
  vk_disks_clear(ptr);
}

void
vk_disks_clear(struct vk_disks *d)
{
  for (size_t i = 0; i < d->n; i++) {
    free(d->disk[i].target);
    free(d->disk[i].type);
    free(d->disk[i].source);
    free(d->disk[i].format);
    free(d->disk[i].device);
  }
  free(d->disk);
  d->disk = NULL;
  d->n = 0;
}

/* A numeric id "+N" of a DAC label into *ID; false if S is not one. */
static bool
parse_numeric_id(const char *s, unsigned long *id)
{
  char *end;
  if (s[0] != '+')
    return false;
  errno = 0;
  *id = strtoul(s + 1, &end, 10);
  return !*end && end != s + 1 && errno == 0;
}

/* Parse a DAC label, "+UID:+GID" or "USER:GROUP" (names resolved here). */
static bool
parse_dac_label(const char *label, struct vk_qemu_user *out)
{
  const char *colon = label ? strchr(label, ':') : NULL;
  if (!colon)
    return false;
  CLEANUP_FREE char *user = vk_xasprintf("%.*s", (int)(colon - label), label);
  const char *group = colon + 1;
  unsigned long id;
  struct passwd *pw;
  struct group *gr;
  if (parse_numeric_id(user, &id))
    out->uid = id;
  else if (user[0] != '+' && (pw = getpwnam(user)))
    out->uid = pw->pw_uid;
  else
    return false;
  if (parse_numeric_id(group, &id))
    out->gid = id;
  else if (group[0] != '+' && (gr = getgrnam(group)))
    out->gid = gr->gr_gid;
  else
    return false;
  out->known = true;
  return true;
}

int
vk_qemu_user(virConnectPtr conn, virDomainPtr dom, struct vk_qemu_user *out)
{
  *out = (struct vk_qemu_user){ 0 };
  /* The domain's own label (a running domain always shows the one it runs
   * with), else the host's default for the domain type.
   */
  CLEANUP_FREE char *type = NULL;
  if (dom) {
    CLEANUP_FREE char *xml = virDomainGetXMLDesc(dom, 0);
    CLEANUP_XMLDOC xmlDocPtr doc = xml ? vk_xml_parse(xml, "domain XML") : NULL;
    CLEANUP_XPATHCTX xmlXPathContextPtr ctx = doc ? xmlXPathNewContext(doc) : NULL;
    if (!ctx)
      return 0;
    /* The process's label: QEMU searches directories as that user. */
    CLEANUP_FREE char *label =
      vk_xpath_string(ctx, NULL, "string(/domain/seclabel[@model='dac']/label)");
    if (!label)
      label = vk_xpath_string(ctx, NULL, "string(/domain/seclabel[@model='dac']/imagelabel)");
    if (label && parse_dac_label(label, out))
      return 0;
    type = vk_xpath_string(ctx, NULL, "string(/domain/@type)");
  }
  CLEANUP_FREE char *caps = virConnectGetCapabilities(conn);
  CLEANUP_XMLDOC xmlDocPtr cdoc = caps ? vk_xml_parse(caps, "capabilities") : NULL;
  CLEANUP_XPATHCTX xmlXPathContextPtr cctx = cdoc ? xmlXPathNewContext(cdoc) : NULL;
  if (!cctx)
    return 0;
  CLEANUP_FREE char *expr = vk_xasprintf(
    "string(/capabilities/host/secmodel[model='dac']/baselabel[@type='%s'])",
    type && strcmp(type, "qemu") == 0 ? "qemu" : "kvm");
  CLEANUP_FREE char *base = vk_xpath_string(cctx, NULL, expr);
  if (base)
    parse_dac_label(base, out);
  return 0;
}

int
vk_domain_dir_open(virConnectPtr conn, const char *dir, const char *what, char **abs,
                   struct vk_qemu_user *qu)
{
  *abs = NULL;
  CLEANUP_CLOSE int fd = vk_dir_open_trusted(dir, what, false, abs);
  if (fd < 0)
    return -1;
  vk_qemu_user(conn, NULL, qu);
  if (vk_qemu_check_reach(qu, *abs, what) < 0) {
    free(*abs);
    *abs = NULL;
    return -1;
  }
  int r = fd;
  fd = -1;
  return r;
}
