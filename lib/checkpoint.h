/* vckpt - checkpoint operations on a domain, on top of libvirt's
 * checkpoint API: exists, create, read, delete, redefine a set.  Used by
 * the checkpoint commands and by the backup flow (its rollback deletes the
 * checkpoint a failed backup created with vk_checkpoint_delete too).
 * Every function reports its errors (vk_error) unless it says otherwise.
 */
#ifndef VCKPT_CHECKPOINT_H
#define VCKPT_CHECKPOINT_H

#include <stdbool.h>
#include <libvirt/libvirt.h>

#include "checkpoint-xml.h"

/* Whether DOM has checkpoint NAME: 1, 0, or -1 (reported) when libvirt
 * could not say.
 */
int vk_checkpoint_exists(virDomainPtr dom, const char *name);

/* A checkpoint to create.  With DISKS, the XML names every disk of the
 * domain (checkpoint='no' for the others), so the domain's disks are read.
 */
struct vk_checkpoint_new {
  const char *name;          /* NULL: libvirt picks one */
  const char *description;   /* or NULL */
  char *const *disks;        /* targets that get a bitmap; NULL: libvirt's default */
  bool quiesce;              /* freeze the guest's file systems (guest agent) */
};
/* The <domaincheckpoint> XML for NEW (DOM may be NULL without DISKS). */
char *vk_checkpoint_new_xml(virDomainPtr dom, const struct vk_checkpoint_new *spec);
/* Create it (refused if NAME exists) and record the disks' sizes; returns
 * the name of the created checkpoint.
 */
char *vk_checkpoint_create(virDomainPtr dom, const struct vk_checkpoint_new *spec);

/* Read checkpoint NAME (with the bytes changed since it when WITH_SIZE)
 * and, if CHILDREN is not NULL, the names of its children.
 */
int vk_checkpoint_read(virDomainPtr dom, const char *name, bool with_size, struct vk_ckpt *out,
                       char ***children);
/* libvirt's XML of checkpoint NAME. */
char *vk_checkpoint_dumpxml(virDomainPtr dom, const char *name);

/* How to delete a checkpoint. */
enum {
  VK_CKPT_DELETE_CHILDREN = 1 << 0,      /* its descendants too */
  VK_CKPT_DELETE_METADATA_ONLY = 1 << 1, /* libvirt's metadata only; bitmaps stay */
  VK_CKPT_DELETE_OR_METADATA = 1 << 2,   /* if the bitmaps cannot be deleted, the metadata */
  VK_CKPT_DELETE_MISSING_OK = 1 << 3,    /* a checkpoint that does not exist is deleted */
};
/* Delete checkpoint NAME of DOM as FLAGS say, and forget what vckpt
 * recorded about it (and its descendants) in the domain's metadata.
 * Returns 0 once libvirt confirmed it gone, else -1: reported, or, when
 * WHY is not NULL, not reported and *WHY says why ("libvirtd unreachable",
 * or libvirt's message).
 */
int vk_checkpoint_delete(virDomainPtr dom, const char *name, unsigned int flags, char **why);

/* Redefining checkpoints from XML files, all or none.  Load reads and
 * checks every file first (before anything is asked of libvirt): NULL
 * after reporting.  Set-parent makes checkpoint NAME of the set a child of
 * PARENT (NULL: a root) by rewriting its XML's <parent>, for a parent
 * that is gone (vckpt repair: the parent libvirt would now report).
 * Redefine orders them parents first (a parent outside the set must be
 * defined), defines them, and on a failure undoes what was done (previous
 * definitions are restored); *NAMES gets the names in the order they were
 * defined.  With VK_REDEFINE_VALIDATE libvirt checks that the running QEMU
 * holds each bitmap, consistent (libvirt refuses it for a shut-off
 * domain); when that check refused one and REFUSED and WHY are not NULL,
 * *REFUSED names it and *WHY holds libvirt's message, and it is not
 * reported (every other error is).
 */
enum {
  VK_REDEFINE_VALIDATE = 1 << 0,
};
struct vk_redefine_set;
struct vk_redefine_set *vk_redefine_load(const char *const *files, size_t n);
int vk_redefine_set_parent(struct vk_redefine_set *set, const char *name, const char *parent);
int vk_checkpoint_redefine(virDomainPtr dom, struct vk_redefine_set *set, unsigned flags,
                           char ***names, char **refused, char **why);
void vk_redefine_set_free(struct vk_redefine_set *set);

#endif
