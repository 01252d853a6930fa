/* vckpt - restore backups from the repository (verify is verify.h's). */
#ifndef VCKPT_RESTORE_H
#define VCKPT_RESTORE_H

#include <stdbool.h>
#include <libvirt/libvirt.h>
#include <libxml/tree.h>

struct vk_repo;
struct vk_backup;

struct vk_restore_request {
  const char *repo_dir, *domain;
  const char *at;            /* backup id or checkpoint name; NULL: the latest backup */
  const char *to;            /* directory for the restored images */
  char *const *disks;        /* NULL: every disk of the backup */
  const char *define;        /* define a new domain of this name, or NULL */
  bool no_verify;            /* skip the size and checksum checks */
};

/* One restored disk image. */
struct vk_restored {
  char *target, *path;
};

/* Write standalone qcow2 images (mode 0600) of the disks as they were at
 * the chosen backup.  Every file each disk's chain reads must be a regular
 * file whose qcow2 header names the recorded backing file and, unless
 * REQ->no_verify, of the recorded size and checksum (hashed in threads
 * while qemu-img convert runs, without a shell).  The images are written
 * into a private temporary directory inside REQ->to and renamed into place
 * at the end, never replacing a file; on any failure or a stop signal
 * (VK_EXIT_INTERRUPTED, the qemu-img child ended) nothing is left.  With
 * REQ->define (CONN needed) the name is checked before anything is copied,
 * then a new domain is defined on the images.  Returns 0 with the images
 * in *OUT (*N of them), or -1.
 */
int vk_restore(virConnectPtr conn, const struct vk_restore_request *req,
               char **backup_id, struct vk_restored **out, size_t *n);
void vk_restored_free(struct vk_restored *r, size_t n);

/* The domain XML saved with backup B, parsed (a regular file, no symbolic
 * link), or NULL (reported).
 */
xmlDocPtr vk_backup_domain_doc(const struct vk_repo *repo, const struct vk_backup *b);

/* How vk_domain_rewrite turns a backed-up domain XML into a new domain. */
struct vk_domain_rewrite {
  const char *name;                 /* the new domain's name */
  const struct vk_restored *disks;  /* each disk's new image; other disks are dropped */
  size_t n;
  bool isolated;                    /* no <interface>, graphics, audio, host devices */
  const char *console;              /* if set: the only serial port, logged to this file */
  bool quiet;                       /* no warnings about what is left out */
  bool own_nvram;                   /* <nvram> already names the new domain's own copy
                                       (vk_state_restore_nvram); else it is dropped */
};
/* Rewrite DOC (read from PATH) for a new domain that shares nothing with
 * the original: new name, no UUID, id or MAC addresses, no NVRAM, LUN or
 * shared directory, no character device on a host path (a pty instead;
 * the guest agent channel gets a socket libvirt names), every disk on its
 * new image.  Returns the XML, or NULL (reported).
 */
char *vk_domain_rewrite(xmlDocPtr doc, const char *path, const struct vk_domain_rewrite *rw);

#endif
