/* vckpt - checkpoint operations on a domain (libvirt's checkpoint API). */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <libvirt/virterror.h>

#include "checkpoint.h"
#include "fileio.h"
#include "meta.h"
#include "util.h"
#include "virt.h"
#include "xml.h"

int
vk_checkpoint_exists(virDomainPtr dom, const char *name)
{
  virDomainCheckpointPtr c = virDomainCheckpointLookupByName(dom, name, 0);
  if (c) {
    virDomainCheckpointFree(c);
    return 1;
  }
  if (vk_virt_last_code() == VIR_ERR_NO_DOMAIN_CHECKPOINT)
    return 0;
  vk_virt_error("cannot look up checkpoint '%s'", name);
  return -1;
}

/* ---- create ---- */

char *
vk_checkpoint_new_xml(virDomainPtr dom, const struct vk_checkpoint_new *spec)
{
  CLEANUP_STRV char **all = NULL;
  if (spec->disks) {
    struct vk_disks d = { 0 };
    if (vk_domain_disks(dom, 0, &d) < 0)
      return NULL;
    int r = vk_disks_check(&d, virDomainGetName(dom), spec->disks);
    all = vk_xcalloc(d.n + 1, sizeof *all);
    for (size_t i = 0, n = 0; i < d.n; i++)
      if (strcmp(d.disk[i].device, "disk") == 0)
        all[n++] = vk_xstrdup(d.disk[i].target);
    vk_disks_clear(&d);
    if (r < 0)
      return NULL;
  }
  struct vk_ckpt_spec cs = {
    .name = spec->name, .description = spec->description, .disks = spec->disks,
    .all_disks = all,
  };
  CLEANUP_XMLDOC xmlDocPtr doc = vk_ckpt_build(&cs);
  return vk_xml_format(doc);
}

/* Remember each covered disk's size now, to detect a later resize. */
static void
record_sizes(virDomainPtr dom, virDomainCheckpointPtr chk)
{
  struct vk_ckpt c = { 0 };
  if (vk_ckpt_get(chk, false, &c) < 0)
    return;
  char **disks = vk_xcalloc(c.nr_disks + 1, sizeof *disks);
  for (size_t i = 0, n = 0; i < c.nr_disks; i++)
    if (c.disks[i].bitmap)
      disks[n++] = c.disks[i].name;
  vk_meta_record(dom, c.name, disks);
  free(disks);
  vk_ckpt_clear(&c);
}

char *
vk_checkpoint_create(virDomainPtr dom, const struct vk_checkpoint_new *spec)
{
  CLEANUP_FREE char *xml = vk_checkpoint_new_xml(dom, spec);
  if (!xml)
    return NULL;
  if (spec->name) {
    int e = vk_checkpoint_exists(dom, spec->name);
    if (e != 0) {
      if (e > 0)
        vk_error(VK_EXIT_FAILURE, "checkpoint '%s' already exists", spec->name);
      return NULL;
    }
  }
  vk_debug("creating checkpoint:\n%s", xml);
  unsigned int flags = spec->quiesce ? VIR_DOMAIN_CHECKPOINT_CREATE_QUIESCE : 0;
  CLEANUP_CHECKPOINT virDomainCheckpointPtr chk = virDomainCheckpointCreateXML(dom, xml, flags);
  if (!chk) {
    vk_virt_error("cannot create checkpoint%s%s", spec->name ? " " : "",
                  spec->name ? spec->name : "");
    return NULL;
  }
  record_sizes(dom, chk);
  return vk_xstrdup(virDomainCheckpointGetName(chk));
}

/* ---- read ---- */

/* The names of CHK's children (or all descendants), NULL-terminated. */
static char **
children_of(virDomainCheckpointPtr chk, bool descendants)
{
  virDomainCheckpointPtr *kids = NULL;
  int n = virDomainCheckpointListAllChildren(chk, &kids,
                                             descendants ? VIR_DOMAIN_CHECKPOINT_LIST_DESCENDANTS
                                                         : 0);
  if (n < 0)
    return NULL;
  char **names = vk_xcalloc(n + 1, sizeof *names);
  for (int i = 0; i < n; i++) {
    names[i] = vk_xstrdup(virDomainCheckpointGetName(kids[i]));
    virDomainCheckpointFree(kids[i]);
  }
  free(kids);
  return names;
}

int
vk_checkpoint_read(virDomainPtr dom, const char *name, bool with_size, struct vk_ckpt *out,
                   char ***children)
{
  CLEANUP_CHECKPOINT virDomainCheckpointPtr chk = vk_checkpoint_lookup(dom, name);
  if (!chk)
    return -1;
  if (vk_ckpt_get(chk, with_size, out) < 0)
    return -1;
  if (children && !(*children = children_of(chk, false))) {
    vk_virt_error("cannot list the children of checkpoint '%s'", name);
    vk_ckpt_clear(out);
    return -1;
  }
  return 0;
}

char *
vk_checkpoint_dumpxml(virDomainPtr dom, const char *name)
{
  CLEANUP_CHECKPOINT virDomainCheckpointPtr chk = vk_checkpoint_lookup(dom, name);
  if (!chk)
    return NULL;
  char *xml = virDomainCheckpointGetXMLDesc(chk, 0);
  if (!xml)
    vk_virt_error("cannot read checkpoint '%s'", name);
  return xml;
}

/* ---- delete ---- */

/* A libvirt failure: reported, or (WHY) described for the caller. */
static void __attribute__((format(printf, 3, 4)))
failed(virDomainPtr dom, char **why, const char *fmt, ...)
{
  if (why) {
    *why = virConnectIsAlive(virDomainGetConnect(dom)) != 1
      ? vk_xstrdup("libvirtd unreachable") : vk_xstrdup(vk_virt_last_message());
    return;
  }
  char *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  va_end(ap);
  vk_virt_error("%s", msg ? msg : fmt);
  free(msg);
}

int
vk_checkpoint_delete(virDomainPtr dom, const char *name, unsigned int flags, char **why)
{
  CLEANUP_CHECKPOINT virDomainCheckpointPtr chk = NULL;
  if (why) {
    chk = virDomainCheckpointLookupByName(dom, name, 0);
    if (!chk && vk_virt_last_code() == VIR_ERR_NO_DOMAIN_CHECKPOINT) {
      if (flags & VK_CKPT_DELETE_MISSING_OK)
        return 0;
      *why = vk_xasprintf("checkpoint '%s' not found", name);
      return -1;
    }
    if (!chk) {
      failed(dom, why, "cannot look up checkpoint '%s'", name);
      return -1;
    }
  } else {
    chk = vk_checkpoint_lookup(dom, name);
    if (!chk)
      return -1;
  }
  CLEANUP_STRV char **kids = NULL;
  unsigned int vflags = 0;
  if (flags & VK_CKPT_DELETE_CHILDREN) {
    vflags |= VIR_DOMAIN_CHECKPOINT_DELETE_CHILDREN;
    if (!(kids = children_of(chk, true))) {
      failed(dom, why, "cannot list the descendants of checkpoint '%s'", name);
      return -1;
    }
  }
  if (flags & VK_CKPT_DELETE_METADATA_ONLY)
    vflags |= VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY;
  int r = virDomainCheckpointDelete(chk, vflags);
  if (r < 0 && (flags & VK_CKPT_DELETE_OR_METADATA) &&
      !(vflags & VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY))
    r = virDomainCheckpointDelete(chk, vflags | VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY);
  if (r < 0) {
    failed(dom, why, "cannot delete checkpoint '%s'", name);
    return -1;
  }
  for (size_t i = 0; kids && kids[i]; i++)
    vk_meta_forget(dom, kids[i]);
  vk_meta_forget(dom, name);
  return 0;
}

/* ---- redefine ---- */

struct redef {
  const char *file;
  char *xml;
  struct vk_ckpt c;
  char *old_xml;   /* previous definition when it existed, for rollback */
  bool done;
};

/* Undo the redefinitions done so far, newest first. */
static void
redefine_rollback(virDomainPtr dom, struct redef *r, size_t n)
{
  for (size_t i = n; i-- > 0;) {
    if (!r[i].done)
      continue;
    if (r[i].old_xml) {
      virDomainCheckpointPtr c =
        virDomainCheckpointCreateXML(dom, r[i].old_xml, VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE);
      if (c)
        virDomainCheckpointFree(c);
      else
        vk_warn("rollback: cannot restore the previous definition of '%s'", r[i].c.name);
      continue;
    }
    CLEANUP_FREE char *why = NULL;
    if (vk_checkpoint_delete(dom, r[i].c.name, VK_CKPT_DELETE_METADATA_ONLY, &why) < 0)
      vk_warn("rollback: cannot remove the metadata of '%s'", r[i].c.name);
  }
}

/* Order R so every checkpoint comes after its parent when both are in R;
 * a parent outside R must already be defined.
 */
static int
redefine_order(virDomainPtr dom, struct redef *r, size_t n)
{
  for (size_t placed = 0; placed < n;) {
    bool progress = false;
    for (size_t i = placed; i < n; i++) {
      const char *p = r[i].c.parent;
      bool ready = !p;
      for (size_t j = 0; p && j < placed && !ready; j++)
        ready = strcmp(r[j].c.name, p) == 0;
      if (!ready && p) {
        bool in_set = false;
        for (size_t j = placed; j < n; j++)
          in_set |= strcmp(r[j].c.name, p) == 0;
        if (!in_set) {
          virDomainCheckpointPtr pc = virDomainCheckpointLookupByName(dom, p, 0);
          if (!pc) {
            vk_error(VK_EXIT_NOT_FOUND, "%s: parent checkpoint '%s' of '%s' is neither "
                     "defined nor in the given files", r[i].file, p, r[i].c.name);
            return -1;
          }
          virDomainCheckpointFree(pc);
          ready = true;
        }
      }
      if (ready) {
        struct redef t = r[placed];
        r[placed] = r[i];
        r[i] = t;
        placed++;
        progress = true;
      }
    }
    if (!progress) {
      vk_error(VK_EXIT_FAILURE, "the given checkpoints' parents form a loop (at '%s')",
               r[placed].c.name);
      return -1;
    }
  }
  return 0;
}

/* The parsed files of one redefine run. */
struct vk_redefine_set {
  size_t n;
  struct redef *r;
};

void
vk_redefine_set_free(struct vk_redefine_set *rs)
{
  if (!rs)
    return;
  for (size_t i = 0; i < rs->n; i++) {
    free(rs->r[i].xml);
    free(rs->r[i].old_xml);
    vk_ckpt_clear(&rs->r[i].c);
  }
  free(rs->r);
  free(rs);
}

int
vk_redefine_set_parent(struct vk_redefine_set *rs, const char *name, const char *parent)
{
  struct redef *r = NULL;
  for (size_t i = 0; i < rs->n && !r; i++)
    if (strcmp(rs->r[i].c.name, name) == 0)
      r = &rs->r[i];
  if (!r) {
    vk_error(VK_EXIT_FAILURE, "internal error: checkpoint '%s' is not in the set", name);
    return -1;
  }
  CLEANUP_XMLDOC xmlDocPtr doc = vk_xml_parse(r->xml, r->file);
  if (!doc)
    return -1;
  xmlNodePtr root = xmlDocGetRootElement(doc);
  xmlNodePtr old = NULL, after = NULL;
  for (xmlNodePtr n = root->children; n; n = n->next) {
    if (n->type != XML_ELEMENT_NODE)
      continue;
    if (xmlStrcmp(n->name, (const xmlChar *)"parent") == 0)
      old = n;
    else if (xmlStrcmp(n->name, (const xmlChar *)"creationTime") == 0)
      after = n;
  }
  if (old) {
    xmlUnlinkNode(old);
    xmlFreeNode(old);
  }
  if (parent) {
    xmlNodePtr pn = xmlNewNode(NULL, (const xmlChar *)"parent");
    vk_xml_add_text(pn, "name", parent);
    if (after)
      xmlAddNextSibling(after, pn);
    else
      xmlAddChild(root, pn);
  }
  free(r->xml);
  r->xml = vk_xml_format(doc);
  free(r->c.parent);
  r->c.parent = parent ? vk_xstrdup(parent) : NULL;
  return 0;
}

struct vk_redefine_set *
vk_redefine_load(const char *const *files, size_t nfiles)
{
  struct vk_redefine_set *rs = vk_xcalloc(1, sizeof *rs);
  rs->r = vk_xcalloc(nfiles, sizeof *rs->r);
  for (size_t i = 0; i < nfiles; i++) {
    struct redef *r = &rs->r[rs->n++];
    r->file = files[i];
    if (vk_read_file(r->file, 16 << 20, &r->xml) < 0 ||
        vk_ckpt_parse(r->xml, r->file, &r->c) < 0 ||
        vk_check_name("checkpoint", r->c.name) < 0) {
      vk_redefine_set_free(rs);
      return NULL;
    }
    for (size_t j = 0; j < i; j++)
      if (strcmp(rs->r[j].c.name, r->c.name) == 0) {
        vk_error(VK_EXIT_USAGE, "%s and %s both define checkpoint '%s'",
                 rs->r[j].file, r->file, r->c.name);
        vk_redefine_set_free(rs);
        return NULL;
      }
  }
  return rs;
}

int
vk_checkpoint_redefine(virDomainPtr dom, struct vk_redefine_set *rs, unsigned flags,
                       char ***names, char **refused, char **why)
{
  if (refused)
    *refused = NULL;
  if (why)
    *why = NULL;
  if (redefine_order(dom, rs->r, rs->n) < 0)
    return -1;
  for (size_t i = 0; i < rs->n; i++) {
    virDomainCheckpointPtr old = virDomainCheckpointLookupByName(dom, rs->r[i].c.name, 0);
    if (old) {
      rs->r[i].old_xml = virDomainCheckpointGetXMLDesc(old, 0);
      virDomainCheckpointFree(old);
      /* Without it, a rollback could not put that definition back. */
      if (!rs->r[i].old_xml) {
        vk_virt_error("cannot read the current definition of checkpoint '%s'; nothing was "
                      "redefined", rs->r[i].c.name);
        return -1;
      }
    } else if (vk_virt_last_code() != VIR_ERR_NO_DOMAIN_CHECKPOINT) {
      vk_virt_error("cannot look up checkpoint '%s'; nothing was redefined", rs->r[i].c.name);
      return -1;
    }
  }
  for (size_t i = 0; i < rs->n; i++) {
    struct redef *r = &rs->r[i];
    unsigned vflags = VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE;
    if (flags & VK_REDEFINE_VALIDATE)
      vflags |= VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE_VALIDATE;
    virDomainCheckpointPtr c = virDomainCheckpointCreateXML(dom, r->xml, vflags);
    if (!c) {
      if (refused && why && vk_virt_last_code() == VIR_ERR_CHECKPOINT_INCONSISTENT) {
        /* The caller's to report: the bitmaps, not the call, failed. */
        *refused = vk_xstrdup(r->c.name);
        *why = vk_xstrdup(vk_virt_last_message());
      } else
        vk_virt_error("%s: cannot redefine checkpoint '%s'", r->file, r->c.name);
      redefine_rollback(dom, rs->r, i);
      return -1;
    }
    virDomainCheckpointFree(c);
    r->done = true;
  }
  *names = vk_xcalloc(rs->n + 1, sizeof **names);
  for (size_t i = 0; i < rs->n; i++)
    (*names)[i] = vk_xstrdup(rs->r[i].c.name);
  return 0;
}
