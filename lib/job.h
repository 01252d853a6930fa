/* vckpt - a backup job: what copies the disks' data into the target files
 * of a backup.  The flow (engine.c) drives every kind of job through the
 * same callbacks, in this order:
 *
 *   prepare   create the target files (the journal already lists them)
 *   start     start copying; the job's point in time; a checkpoint to
 *             create at that point (CHECKPOINT_XML) is created with it
 *             (or, by a kind whose point in time lasts until the copy is
 *             done, at the end of wait: the offline job)
 *   wait      see it to its end, reporting progress; on a stop signal
 *             (vk_stop_signal) it calls abort and waits for the end
 *   abort     ask a started job to stop (callable at any time after start)
 *   close     release what the job holds (always called, once)
 *
 * The push job (job-push.c: libvirt's virDomainBackupBegin in push mode) is
 * the first kind; the offline job (job-offline.c: qemu-storage-daemon on a
 * shut-off domain's images) is the second.  Nothing in the flow may
 * assume libvirt's push job: everything job-specific goes through here.
 * What the kinds share is job.c (the table of kinds, setting a job up and
 * closing it) and flow.c (progress and messages).
 */
#ifndef VCKPT_JOB_H
#define VCKPT_JOB_H

#include <stdbool.h>
#include <stdint.h>
#include <libvirt/libvirt.h>

#include "backup.h"
#include "flow.h"

/* Pull mode (job-pull.c): where libvirt's NBD export and its scratch files
 * go.  A local domain's export is a UNIX socket in a private directory; a
 * remote one's is on TCP with TLS (remote.h).
 */
struct vk_pull_opts {
  const char *host;             /* the remote hypervisor's address (the URI's host), or NULL: local */
  const char *tls_dir;          /* the client's certificates (ca-cert.pem, client-cert.pem, client-key.pem) */
  const char *scratch_dir;      /* the hypervisor's directory for scratch files, or NULL: libvirt's */
  int port_min, port_max;       /* TCP ports to try for a remote export */
  int timeout;                  /* seconds a remote export may stay silent (0: 60) */
};

/* What a job is asked to do. */
struct vk_job_spec {
  virConnectPtr conn;           /* the domain's libvirt connection (jobs that need it) */
  virDomainPtr dom;
  const char *incremental;      /* checkpoint the changes are relative to; NULL: full */
  const struct vk_job_disk *disks;
  size_t n;
  char *const *all;             /* every disk of the domain (the others are left out) */
  const char *checkpoint_xml;   /* checkpoint to create at the job's point in time, or NULL */
  bool quiesce;                 /* freeze the guest's file systems around the start */
  bool quiesce_try;             /* with quiesce: no agent is a warning, not an error */
  const struct vk_pull_opts *pull;  /* the pull job's settings */
};

/* What a finished job did. */
struct vk_job_result {
  bool ok;
  bool interrupted;       /* a stop signal: aborted by us */
  bool quiesced;          /* the file systems were frozen at the point in time */
  uint64_t bytes;         /* data processed */
  double seconds;
  char *error;            /* libvirt's error message when !ok */
};

struct vk_job;
struct vk_job_ops {
  const char *kind;             /* "push" */
  /* Create the target files.  0, -1 after reporting, or 1 when a stop
   * signal came before all were created (nothing reported).
   */
  int (*prepare)(struct vk_job *job);
  /* The job's description for a dry run (malloc'd), e.g. the backup XML. */
  char *(*describe)(struct vk_job *job);
  /* Start the job.  -1 after reporting if it did not start. */
  int (*start)(struct vk_job *job);
  /* Wait for its end; fills RES.  -1 only if it could not be followed at
   * all (reported); a failed or aborted job is 0 with RES->ok false.
   */
  int (*wait)(struct vk_job *job, const struct vk_flow_cb *cb, struct vk_job_result *res);
  /* Ask the job to stop; 0 if asked. */
  int (*abort)(struct vk_job *job);
  void (*close)(struct vk_job *job);
  /* Find a job of this kind that a killed run left writing into FILES
   * (NULL-terminated absolute paths) on SPEC->dom, and stop it: 1 if one
   * was found (and stopped), 0 if none.  Called with no job set up.
   */
  int (*reclaim)(const struct vk_job_spec *spec, char *const *files,
                 const struct vk_flow_cb *cb);
};

struct vk_job {
  const struct vk_job_ops *ops;
  struct vk_job_spec spec;
  void *priv;                   /* the kind's own state */
};

/* The kinds of job, one file each (job-KIND.c), and their table (job.c).
 * The plan chooses the kind of each backup (plan.c).
 */
enum vk_job_kind {
  VK_JOB_PUSH,        /* job-push.c: libvirt copies the data (virDomainBackupBegin,
                         push mode, REUSE_EXTERNAL targets created by prepare) */
  VK_JOB_OFFLINE,     /* job-offline.c: see below */
  VK_JOB_PULL,        /* job-pull.c: libvirt's pull-mode backup: QEMU exports the disks
                         over NBD and vckpt copies them (libnbd) into target files a
                         qemu-storage-daemon of its own writes */
  VK_JOB_KINDS        /* their number */
};
extern const struct vk_job_ops vk_job_push_ops;
extern const struct vk_job_ops vk_job_pull_ops;
/* The offline job (job-offline.c): a shut-off domain's images copied by a
 * qemu-storage-daemon vckpt drives over QMP (qmp.h).  Its point in time
 * lasts from start to the end of wait (the images are locked read-only),
 * so it creates CHECKPOINT_XML at the end of wait, once the copy is
 * complete: libvirt REDEFINE, then the bitmaps.
 */
extern const struct vk_job_ops vk_job_offline_ops;
/* Remove bitmap NAME from the top image of each qcow2 disk of the shut-off
 * DOM that has it (qemu-img bitmap --remove, which takes QEMU's image lock:
 * it fails if the domain started meanwhile).  The number removed, or -1
 * with *WHY (nothing reported).
 */
int vk_offline_remove_bitmaps(virDomainPtr dom, const char *name, char **why);
/* The pull job from a remote host needs the client's certificates in DIR
 * (ca-cert.pem, client-cert.pem, client-key.pem): 0, or -1 after reporting
 * a usage error.
 */
int vk_pull_tls_check(const char *dir);
/* Every kind, indexed by its enum vk_job_kind: recovery asks each to
 * reclaim a leftover job.
 */
extern const struct vk_job_ops *const vk_job_kinds[VK_JOB_KINDS];

/* Set JOB up as a job of kind KIND for SPEC (which must outlive it). */
void vk_job_init(struct vk_job *job, enum vk_job_kind kind, const struct vk_job_spec *spec);
/* Call close if not yet done. */
void vk_job_close(struct vk_job *job);
/* End libvirt's job on DOM (virDomainAbortJob: a push job aborted, a pull
 * job ended) and wait up to 30 s until libvirt has none (it removes a pull
 * job's scratch files and socket then).
 */
void vk_job_end_libvirt(virDomainPtr dom);

#endif
