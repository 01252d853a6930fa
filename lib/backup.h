/* vckpt - the libvirt side of a push-mode backup: the backup XML, target
 * files, and running the job to its end (job-completed event), with abort
 * on a signal.
 */
#ifndef VCKPT_BACKUP_H
#define VCKPT_BACKUP_H

#include <stdbool.h>
#include <signal.h>
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
};

/* Build <domainbackup mode='push'>: INCREMENTAL is the checkpoint the
 * changes are relative to (NULL: full); a disk marked WHOLE is copied whole
 * in the same job (backupmode='full'); ALL lists every disk of the domain
 * so the others get backup='no'.
 */
xmlDocPtr vk_backup_xml(const char *incremental, const struct vk_job_disk *disks, size_t n,
                        char *const *all);

/* Create the target file of one disk: an empty qcow2 of the right size, or
 * an overlay on its backing file (qemu-img, run without a shell).
 */
int vk_target_create(const struct vk_job_disk *d);

/* Run a program (argv[0] looked up in PATH) without a shell and wait for it;
 * its standard error is collected and reported on failure.
 */
int vk_run(char *const argv[]);

/* What a finished job did. */
struct vk_job_result {
  bool ok;
  bool interrupted;       /* SIGINT/SIGTERM: aborted by us */
  uint64_t bytes;         /* data processed */
  double seconds;
  char *error;            /* libvirt's error message when !ok */
};

/* Start the backup (virDomainBackupBegin with REUSE_EXTERNAL and the
 * checkpoint XML; with QUIESCE the guest's file systems are frozen around
 * the start, which is the backup's point in time) and wait for it to end: job-completed or a lifecycle event,
 * a progress line on a terminal unless QUIET.  On SIGINT/SIGTERM the job is
 * aborted.  Returns -1 if the job could not start (reported), else 0 with RES.
 */
int vk_backup_run(virConnectPtr conn, virDomainPtr dom, const char *backup_xml,
                  const char *checkpoint_xml, bool quiesce, bool quiet,
                  struct vk_job_result *res);

/* The signal (SIGINT, SIGTERM) that asked the backup to stop, or 0. */
extern volatile sig_atomic_t vk_stop_signal;
/* Catch SIGINT and SIGTERM into vk_stop_signal until the matching
 * vk_stop_catch_end (calls nest): the engine does it for a whole backup,
 * vk_backup_run for its job.
 */
void vk_stop_catch_begin(void);
void vk_stop_catch_end(void);

#endif
