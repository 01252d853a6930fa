/* vckpt - checkpoint XML and listing. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "checkpoint-xml.h"
#include "util.h"
#include "virt.h"
#include "xml.h"

char *
vk_ckpt_new_identity(void)
{
  unsigned char r[16];
  size_t got = 0;
  while (got < sizeof r) {
    ssize_t n = getrandom(r + got, sizeof r - got, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      /* No entropy source at all: the name and time still identify it. */
      vk_warn("getrandom: %s", n < 0 ? strerror(errno) : "no data");
      break;
    }
    got += n;
  }
  char hex[2 * sizeof r + 1];
  for (size_t i = 0; i < sizeof r; i++)
    snprintf(hex + 2 * i, 3, "%02x", got == sizeof r ? r[i] : 0);
  return vk_xasprintf("vckpt backup checkpoint, identity %s", hex);
}

xmlDocPtr
vk_ckpt_build(const struct vk_ckpt_spec *spec)
{
  xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
  xmlNodePtr root = xmlNewNode(NULL, (const xmlChar *)"domaincheckpoint");
  xmlDocSetRootElement(doc, root);
  if (spec->name)
    vk_xml_add_text(root, "name", spec->name);
  if (spec->description)
    vk_xml_add_text(root, "description", spec->description);
  if (spec->disks) {
    xmlNodePtr disks = xmlNewChild(root, NULL, (const xmlChar *)"disks", NULL);
    for (size_t i = 0; spec->all_disks && spec->all_disks[i]; i++) {
      const char *t = spec->all_disks[i];
      xmlNodePtr d = xmlNewChild(disks, NULL, (const xmlChar *)"disk", NULL);
      xmlNewProp(d, (const xmlChar *)"name", (const xmlChar *)t);
      xmlNewProp(d, (const xmlChar *)"checkpoint",
                 (const xmlChar *)(vk_strv_contains(spec->disks, t) ? "bitmap" : "no"));
    }
  }
  return doc;
}

int
vk_ckpt_parse(const char *xml, const char *what, struct vk_ckpt *out)
{
  memset(out, 0, sizeof *out);
  CLEANUP_XMLDOC xmlDocPtr doc = vk_xml_parse(xml, what);
  if (!doc)
    return -1;
  xmlNodePtr root = xmlDocGetRootElement(doc);
  if (xmlStrcmp(root->name, (const xmlChar *)"domaincheckpoint") != 0) {
    vk_error(VK_EXIT_FAILURE, "%s: root element is <%s>, expected <domaincheckpoint>",
             what, (const char *)root->name);
    return -1;
  }
  CLEANUP_XPATHCTX xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  out->name = vk_xpath_string(ctx, NULL, "/domaincheckpoint/name");
  out->parent = vk_xpath_string(ctx, NULL, "/domaincheckpoint/parent/name");
  out->description = vk_xpath_string(ctx, NULL, "/domaincheckpoint/description");
  CLEANUP_FREE char *ct = vk_xpath_string(ctx, NULL, "/domaincheckpoint/creationTime");
  out->creation_time = ct ? strtoll(ct, NULL, 10) : 0;

  CLEANUP_XPATHOBJ xmlXPathObjectPtr disks =
    vk_xpath_nodes(ctx, NULL, "/domaincheckpoint/disks/disk");
  int n = vk_xpath_count(disks);
  out->disks = vk_xcalloc(n, sizeof *out->disks);
  for (int i = 0; i < n; i++) {
    xmlNodePtr node = disks->nodesetval->nodeTab[i];
    struct vk_ckpt_disk *d = &out->disks[out->nr_disks++];
    d->name = vk_xpath_string(ctx, node, "@name");
    if (!d->name)
      d->name = vk_xstrdup("");
    CLEANUP_FREE char *mode = vk_xpath_string(ctx, node, "@checkpoint");
    d->bitmap = !mode || strcmp(mode, "bitmap") == 0;
    d->bitmap_name = vk_xpath_string(ctx, node, "@bitmap");
    if (d->bitmap && !d->bitmap_name && out->name)
      d->bitmap_name = vk_xstrdup(out->name);
    CLEANUP_FREE char *size = vk_xpath_string(ctx, node, "@size");
    d->size = size ? strtoll(size, NULL, 10) : -1;
  }
  if (!out->name) {
    vk_error(VK_EXIT_FAILURE, "%s: checkpoint has no <name>", what);
    vk_ckpt_clear(out);
    return -1;
  }
  return 0;
}

void
vk_ckpt_clear(struct vk_ckpt *c)
{
  free(c->name);
  free(c->parent);
  free(c->description);
  for (size_t i = 0; i < c->nr_disks; i++) {
    free(c->disks[i].name);
    free(c->disks[i].bitmap_name);
  }
  free(c->disks);
  memset(c, 0, sizeof *c);
}

int
vk_ckpt_get(virDomainCheckpointPtr chk, bool with_size, struct vk_ckpt *out)
{
  CLEANUP_FREE char *why = NULL;
  if (vk_ckpt_get_quiet(chk, with_size, out, &why) == 0)
    return 0;
  if (why)     /* libvirt's last error is still this one */
    vk_virt_error("cannot read checkpoint '%s'", virDomainCheckpointGetName(chk));
  return -1;    /* else the parse reported it */
}

int
vk_ckpt_get_quiet(virDomainCheckpointPtr chk, bool with_size, struct vk_ckpt *out, char **why)
{
  *why = NULL;
  unsigned int flags = VIR_DOMAIN_CHECKPOINT_XML_NO_DOMAIN;
  if (with_size)
    flags |= VIR_DOMAIN_CHECKPOINT_XML_SIZE;
  CLEANUP_FREE char *xml = virDomainCheckpointGetXMLDesc(chk, flags);
  if (!xml) {
    *why = vk_xstrdup(vk_virt_last_message());
    return -1;
  }
  return vk_ckpt_parse(xml, "checkpoint XML", out);
}

/* Order by creation time; within one second, parents before children. */
static int
cmp_ckpt(const void *a, const void *b)
{
  const struct vk_ckpt *x = a, *y = b;
  if (x->creation_time != y->creation_time)
    return x->creation_time < y->creation_time ? -1 : 1;
  if (x->depth != y->depth)
    return x->depth < y->depth ? -1 : 1;
  return strcmp(x->name, y->name);
}

/* Number of ancestors of C within L (bounded, in case of a loop). */
static int
depth_of(const struct vk_ckpt_list *l, const struct vk_ckpt *c)
{
  int d = 0;
  while (c && c->parent && d <= (int)l->n) {
    c = vk_ckpt_list_find(l, c->parent);
    d++;
  }
  return d;
}

int
vk_ckpt_list_all(virDomainPtr dom, unsigned int flags, struct vk_ckpt_list *out)
{
  virDomainCheckpointPtr *chks = NULL;
  int n = virDomainListAllCheckpoints(dom, &chks, flags);
  if (n < 0) {
    vk_virt_error("cannot list checkpoints of domain '%s'", virDomainGetName(dom));
    return -1;
  }
  int r = 0;
  out->n = 0;
  out->c = vk_xcalloc(n, sizeof *out->c);
  for (int i = 0; i < n; i++) {
    if (r == 0 && vk_ckpt_get(chks[i], false, &out->c[out->n]) == 0)
      out->n++;
    else
      r = -1;
    virDomainCheckpointFree(chks[i]);
  }
  free(chks);
  if (r < 0) {
    vk_ckpt_list_clear(out);
    return -1;
  }
  for (size_t i = 0; i < out->n; i++)
    out->c[i].depth = depth_of(out, &out->c[i]);
  qsort(out->c, out->n, sizeof *out->c, cmp_ckpt);
  return 0;
}

const struct vk_ckpt *
vk_ckpt_list_find(const struct vk_ckpt_list *l, const char *name)
{
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->c[i].name, name) == 0)
      return &l->c[i];
  return NULL;
}

void
vk_ckpt_list_clear(struct vk_ckpt_list *l)
{
  for (size_t i = 0; i < l->n; i++)
    vk_ckpt_clear(&l->c[i]);
  free(l->c);
  l->c = NULL;
  l->n = 0;
}
