/* vckpt - the backup flow: plan (plan.h), journal, job (job.h), seal,
 * commit or roll back, on top of the repository, the validator and libvirt.
 * Command handlers call it and print.
 */
#ifndef VCKPT_ENGINE_H
#define VCKPT_ENGINE_H

#include <stdbool.h>
#include <libvirt/libvirt.h>

#include "job.h"
#include "plan.h"
#include "repo.h"
#include "validate.h"


struct vk_backup_request {
  const char *repo_dir;
  enum vk_mode mode;
  const char *since;          /* --incremental CHK */
  char *const *disks;         /* --disk, or NULL */
  char *const *exclude;       /* --exclude, or NULL */
  const char *name;           /* --name, or NULL: generated */
  bool quiesce, dry_run, no_validate, quiet;
  bool quiesce_try;           /* with quiesce: without a guest agent, warn and go on */
  bool keep_checkpoints;      /* no vk_checkpoints_follow after the backup */
  const struct vk_flow_cb *cb; /* progress and messages; NULL: printed as usual */
  /* --auto's level schedule (policy file; 0: none): a new full chain every
   * N backups, or when the chain's full backup is N days old.
   */
  int full_every_backups, full_every_days;
  int pull;                   /* --pull: 1, --push: 0, neither: -1 (the plan's default) */
  bool compress;              /* zstd-compressed backup files */
  struct vk_pull_opts pull_opts;  /* pull mode's settings (host: filled in by vk_backup) */
};

struct vk_backup_outcome {
  enum vk_level level;
  const char *job;            /* the kind of job: "push", "pull", "offline" */
  bool compressed;            /* zstd-compressed files */
  char *id, *chain, *checkpoint, *since;
  char *auto_reason;          /* --auto fell back to full: why */
  unsigned long long bytes;    /* processed by the job (the disks' extent) */
  unsigned long long written;  /* allocated in the new backup files */
  double seconds;
  char *backup_xml, *checkpoint_xml;   /* dry run */
  struct vk_report report;    /* the preflight findings */
};

/* Make one backup.  Returns 0, or -1 after reporting (a refused preflight
 * reports VK_EXIT_PREFLIGHT with the findings in OUT->report).
 */
int vk_backup(virConnectPtr conn, virDomainPtr dom, const struct vk_backup_request *req,
              struct vk_backup_outcome *out);
void vk_backup_outcome_clear(struct vk_backup_outcome *o);

/* Fill in what the command line left out of the backup request REQ from
 * POL, a domain's policy (policy.h): the repository (neither: the
 * default, vk_default_repo), the disks to leave out (unless REQ names
 * disks to back up or to leave out), --quiesce, --auto's level schedule,
 * pull or push, compression, pull mode's settings (defaults: the TLS
 * directory VK_NBD_TLS_DIR, ports VK_NBD_PORT_MIN to VK_NBD_PORT_MAX).
 * REQ may then point into POL's policy file, which must outlive it.
 */
/* Pull mode's defaults: the client certificates for remote NBD exports,
 * and the TCP ports a remote hypervisor's exports may take.
 */
#define VK_NBD_TLS_DIR "/etc/vckpt/pki/nbd"
#define VK_NBD_PORT_MIN 10809
#define VK_NBD_PORT_MAX 10872
struct vk_policy;
void vk_backup_apply_policy(struct vk_backup_request *req, const struct vk_policy *pol);


#endif
