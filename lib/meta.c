/* vckpt - checkpoint disk sizes kept in the domain's metadata. */
#include <config.h>

#include <stdio.h>
#include <string.h>
#include <libvirt/virterror.h>

#include "meta.h"
#include "util.h"
#include "virt.h"
#include "xml.h"

/* Our metadata element of the domain, parsed, or a new empty one. */
static xmlDocPtr
meta_read(virDomainPtr dom)
{
  char *xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, VK_META_NS,
                                   VIR_DOMAIN_AFFECT_CURRENT);
  xmlDocPtr doc = NULL;
  if (xml) {
    doc = xmlReadMemory(xml, strlen(xml), "metadata", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    free(xml);
  }
  if (!doc) {
    doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNodePtr root = xmlNewNode(NULL, (const xmlChar *)"checkpoints");
    xmlDocSetRootElement(doc, root);
  }
  return doc;
}

/* Write DOC back as the domain's metadata, live and persistent. */
static int
meta_write(virDomainPtr dom, xmlDocPtr doc)
{
  xmlNodePtr root = xmlDocGetRootElement(doc);
  xmlSetNs(root, NULL);  /* libvirt adds its own prefix for VK_META_NS */
  for (xmlNodePtr n = root->children; n; n = n->next)
    xmlSetNs(n, NULL);
  CLEANUP_FREE char *xml = vk_xml_format(doc);
  unsigned int flags = VIR_DOMAIN_AFFECT_CURRENT;
  if (virDomainIsActive(dom) == 1) {
    flags = VIR_DOMAIN_AFFECT_LIVE;
    if (virDomainIsPersistent(dom) == 1)
      flags |= VIR_DOMAIN_AFFECT_CONFIG;
  }
  if (virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, xml, "vckpt",
                           VK_META_NS, flags) < 0) {
    vk_warn("cannot record checkpoint disk sizes in the metadata of domain '%s': %s",
            virDomainGetName(dom), vk_virt_last_message());
    return -1;
  }
  return 0;
}

/* Remove the <checkpoint name=NAME> element, if any. */
static void
meta_remove(xmlDocPtr doc, const char *name)
{
  xmlNodePtr root = xmlDocGetRootElement(doc);
  for (xmlNodePtr n = root->children, next; n; n = next) {
    next = n->next;
    if (n->type != XML_ELEMENT_NODE)
      continue;
    xmlChar *v = xmlGetProp(n, (const xmlChar *)"name");
    if (v && strcmp((const char *)v, name) == 0) {
      xmlUnlinkNode(n);
      xmlFreeNode(n);
    }
    xmlFree(v);
  }
}

void
vk_meta_record(virDomainPtr dom, const char *name, char *const *disks)
{
  CLEANUP_XMLDOC xmlDocPtr doc = meta_read(dom);
  meta_remove(doc, name);
  xmlNodePtr c = xmlNewChild(xmlDocGetRootElement(doc), NULL,
                             (const xmlChar *)"checkpoint", NULL);
  xmlNewProp(c, (const xmlChar *)"name", (const xmlChar *)name);
  for (size_t i = 0; disks && disks[i]; i++) {
    virDomainBlockInfo info;
    if (virDomainGetBlockInfo(dom, disks[i], &info, 0) < 0) {
      vk_debug("no capacity for disk %s: %s", disks[i],
               vk_virt_last_message());
      continue;
    }
    char cap[32];
    snprintf(cap, sizeof cap, "%llu", info.capacity);
    xmlNodePtr d = xmlNewChild(c, NULL, (const xmlChar *)"disk", NULL);
    xmlNewProp(d, (const xmlChar *)"name", (const xmlChar *)disks[i]);
    xmlNewProp(d, (const xmlChar *)"capacity", (const xmlChar *)cap);
  }
  meta_write(dom, doc);
}

void
vk_meta_forget(virDomainPtr dom, const char *name)
{
  CLEANUP_XMLDOC xmlDocPtr doc = meta_read(dom);
  meta_remove(doc, name);
  meta_write(dom, doc);
}

long long
vk_meta_capacity(virDomainPtr dom, const char *name, const char *disk)
{
  CLEANUP_XMLDOC xmlDocPtr doc = meta_read(dom);
  for (xmlNodePtr c = xmlDocGetRootElement(doc)->children; c; c = c->next) {
    if (c->type != XML_ELEMENT_NODE)
      continue;
    CLEANUP_FREE char *cn = (char *)xmlGetProp(c, (const xmlChar *)"name");
    if (!cn || strcmp(cn, name) != 0)
      continue;
    for (xmlNodePtr d = c->children; d; d = d->next) {
      if (d->type != XML_ELEMENT_NODE)
        continue;
      CLEANUP_FREE char *dn = (char *)xmlGetProp(d, (const xmlChar *)"name");
      CLEANUP_FREE char *cap = (char *)xmlGetProp(d, (const xmlChar *)"capacity");
      if (dn && cap && strcmp(dn, disk) == 0)
        return strtoll(cap, NULL, 10);
    }
  }
  return -1;
}
