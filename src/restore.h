/* vckpt - restore and verify backups from the repository. */
#ifndef VCKPT_RESTORE_H
#define VCKPT_RESTORE_H

#include <stdbool.h>
#include <libvirt/libvirt.h>

#include "validate.h"

struct vk_restore_request {
  const char *repo_dir, *domain;
  const char *at;            /* checkpoint; NULL: the latest backup */
  const char *to;            /* directory for the restored images */
  char *const *disks;        /* NULL: every disk of the backup */
  const char *define;        /* define a new domain of this name, or NULL */
  bool no_verify;            /* skip the size, header and SHA-256 checks */
};

/* One restored disk image. */
struct vk_restored {
  char *target, *path;
};

/* Write standalone qcow2 images of the disks as they were at the chosen
 * backup (qemu-img convert of the chain, run without a shell), never
 * replacing a file; optionally define a new domain on them (CONN needed).
 * Returns the number of images (in *OUT) or -1.
 */
int vk_restore(virConnectPtr conn, const struct vk_restore_request *req,
               char **backup_id, struct vk_restored **out, size_t *n);
void vk_restored_free(struct vk_restored *r, size_t n);

/* Check every backup of DOMAIN: files present, SHA-256 as recorded, qcow2
 * chain links and sizes, qemu-img check.  Each problem is a finding in REP
 * (the validator's report type); *BACKUPS and *FILES count what was
 * checked.  Returns 0 (REP->errors may be > 0) or -1.
 */
int vk_verify(const char *repo_dir, const char *domain, struct vk_report *rep,
              size_t *backups, size_t *files);

#endif
