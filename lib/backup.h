/* vckpt - the pieces of a push-mode backup: the backup XML and the target
 * files.  The job itself runs through job.h (job-push.c).
 */
#ifndef VCKPT_BACKUP_H
#define VCKPT_BACKUP_H

#include <stdbool.h>
#include <stdint.h>
#include <libxml/tree.h>
#include <libvirt/libvirt.h>

/* One disk of a backup job. */
struct vk_job_disk {
  const char *target;     /* vda */
  const char *file;       /* absolute path of the qcow2 target */
  const char *backing;    /* backing file name to record in the target (relative), or NULL */
  uint64_t size;          /* virtual size of the target */
  bool whole;             /* copied whole in a non-full job (backupmode='full') */
  bool compress;          /* a zstd-compressed qcow2 (compression_type=zstd) whose
                             clusters the job writes compressed */
};

/* Build <domainbackup mode='push'>: INCREMENTAL is the checkpoint the
 * changes are relative to (NULL: full); a disk marked WHOLE is copied whole
 * in the same job (backupmode='full'); ALL lists every disk of the domain
 * so the others get backup='no'.
 */
xmlDocPtr vk_backup_xml(const char *incremental, const struct vk_job_disk *disks, size_t n,
                        char *const *all);

/* Where a pull-mode backup's NBD export listens: a UNIX socket (SOCKET),
 * or TCP on HOST:PORT with TLS.
 */
struct vk_nbd_server {
  const char *socket;
  const char *host;
  int port;
};

/* Build <domainbackup mode='pull'>: as vk_backup_xml, with the export's
 * server SRV and, for each of the N disks, its scratch file SCRATCH[i].
 */
xmlDocPtr vk_backup_pull_xml(const char *incremental, const struct vk_job_disk *disks, size_t n,
                             char *const *all, const struct vk_nbd_server *srv,
                             char *const *scratch);

/* libvirt 11.10's virDomainBackupBegin flag (older headers lack it): a
 * guest that shuts down during the backup is reset and paused instead of
 * ending, the backup finishes, then libvirt ends QEMU.
 */
#if !LIBVIR_CHECK_VERSION(11, 10, 0)
# define VIR_DOMAIN_BACKUP_BEGIN_PRESERVE_SHUTDOWN_DOMAIN (1 << 1)
#endif
/* The lifecycle event's detail for that pause (libvirt 11.10). */
#define VK_EVENT_SUSPENDED_GUEST_SHUTDOWN 9

/* The flags of virDomainBackupBegin for a push backup on a libvirt daemon
 * of version LIBVIRT_VERSION (virConnectGetLibVersion, major * 1000000 +
 * minor * 1000 + micro): REUSE_EXTERNAL (vckpt creates the targets), and
 * PRESERVE_SHUTDOWN_DOMAIN where the daemon knows it (11.10 and later;
 * older ones refuse an unknown flag).
 */
unsigned int vk_backup_begin_flags(unsigned long libvirt_version);

/* Create the target file of one disk: an empty qcow2 of the right size, or
 * an overlay on its backing file (qemu-img, run without a shell); with
 * D->compress its compression type is zstd (the job writes compressed
 * clusters: the file itself does not make them so).
 */
int vk_target_create(const struct vk_job_disk *d);

#endif
