/* vckpt - restore and verify backups from the repository. */
#ifndef VCKPT_RESTORE_H
#define VCKPT_RESTORE_H

#include <stdbool.h>
#include <libvirt/libvirt.h>

#include "validate.h"

struct vk_restore_request {
  const char *repo_dir, *domain;
  const char *at;            /* backup id or checkpoint name; NULL: the latest backup */
  const char *to;            /* directory for the restored images */
  char *const *disks;        /* NULL: every disk of the backup */
  const char *define;        /* define a new domain of this name, or NULL */
  bool no_verify;            /* skip the size and SHA-256 checks */
};

/* One restored disk image. */
struct vk_restored {
  char *target, *path;
};

/* Write standalone qcow2 images (mode 0600) of the disks as they were at
 * the chosen backup.  Every file each disk's chain reads must be a regular
 * file whose qcow2 header names the recorded backing file and, unless
 * REQ->no_verify, of the recorded size and SHA-256 (hashed in threads
 * while qemu-img convert runs, without a shell).  The images are written
 * into a private temporary directory inside REQ->to and renamed into place
 * at the end, never replacing a file; on any failure or SIGINT/SIGTERM
 * (VK_EXIT_INTERRUPTED, the qemu-img child ended) nothing is left.  With
 * REQ->define (CONN needed) the name is checked before anything is copied,
 * then a new domain is defined on the images.  Returns 0 with the images
 * in *OUT (*N of them), or -1.
 */
int vk_restore(virConnectPtr conn, const struct vk_restore_request *req,
               char **backup_id, struct vk_restored **out, size_t *n);
void vk_restored_free(struct vk_restored *r, size_t n);

/* Check every backup of DOMAIN, reading only (the repository lock taken
 * shared; a read-only repository works): each file a regular, readable
 * file of the recorded size and SHA-256, qcow2 chain links and virtual
 * sizes, qemu-img check of each file alone; files and chain directories
 * the manifest does not know, and chains without a manifest.  Each problem
 * is a finding in REP (the validator's report type); *BACKUPS and *FILES
 * count what was checked.  Returns 0 (REP->errors may be > 0) or -1.
 */
int vk_verify(const char *repo_dir, const char *domain, struct vk_report *rep,
              size_t *backups, size_t *files);

#endif
