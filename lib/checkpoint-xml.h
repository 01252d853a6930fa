/* vckpt - checkpoint XML, built and read with libxml2, and the listings
 * of checkpoints from libvirt (the operations are checkpoint.h's).
 */
#ifndef VCKPT_CHECKPOINT_XML_H
#define VCKPT_CHECKPOINT_XML_H

#include <stdbool.h>
#include <libxml/tree.h>
#include <libvirt/libvirt.h>

/* One disk entry of a checkpoint. */
struct vk_ckpt_disk {
  char *name;      /* target, e.g. vda */
  bool bitmap;     /* checkpoint='bitmap' (else 'no') */
  char *bitmap_name;
  long long size;  /* bytes changed since the checkpoint, -1 if unknown */
};

/* A checkpoint as libvirt describes it. */
struct vk_ckpt {
  char *name;
  char *parent;        /* NULL for a root */
  char *description;
  long long creation_time;
  size_t nr_disks;
  struct vk_ckpt_disk *disks;
  int depth;           /* ancestors, set by vk_ckpt_list_all */
};

/* What to ask for when creating a checkpoint. */
struct vk_ckpt_spec {
  const char *name;        /* NULL: libvirt picks one */
  const char *description; /* or NULL */
  char *const *disks;      /* targets that get a bitmap; NULL: libvirt's default */
  char *const *all_disks;  /* every checkpointable target of the domain */
};

/* The description of a checkpoint a backup creates: a fixed text and a
 * random 128-bit identity, so that a checkpoint deleted and re-created
 * under the same name, even within the same second, is told apart from
 * the one a backup ended at (libvirt keeps the description it was given).
 */
char *vk_ckpt_new_identity(void);

/* Build a <domaincheckpoint> document for virDomainCheckpointCreateXML. */
xmlDocPtr vk_ckpt_build(const struct vk_ckpt_spec *spec);
/* Parse checkpoint XML from libvirt (or a file, named WHAT in errors). */
int vk_ckpt_parse(const char *xml, const char *what, struct vk_ckpt *out);
void vk_ckpt_clear(struct vk_ckpt *c);

/* Read a checkpoint's description from libvirt (XML_SIZE with WITH_SIZE). */
int vk_ckpt_get(virDomainCheckpointPtr chk, bool with_size, struct vk_ckpt *out);
/* vk_ckpt_get, but when libvirt cannot give the XML, -1 with its message in
 * *WHY (allocated) and nothing reported (a parse error is reported, *WHY
 * NULL).
 */
int vk_ckpt_get_quiet(virDomainCheckpointPtr chk, bool with_size, struct vk_ckpt *out,
                      char **why);

/* All checkpoints of a domain, parsed, sorted by creation time then name. */
struct vk_ckpt_list {
  size_t n;
  struct vk_ckpt *c;
};
int vk_ckpt_list_all(virDomainPtr dom, unsigned int flags, struct vk_ckpt_list *out);
const struct vk_ckpt *vk_ckpt_list_find(const struct vk_ckpt_list *l, const char *name);
void vk_ckpt_list_clear(struct vk_ckpt_list *l);

#endif
