/* vckpt - the preflight of a backup (validator and repository checks), and
 * the choice of the disks to back up.  Gathered by the flow (engine.c) as
 * facts for the plan (plan.h).
 */
#ifndef VCKPT_PREFLIGHT_H
#define VCKPT_PREFLIGHT_H

#include <stdbool.h>
#include <libvirt/libvirt.h>

#include "plan.h"
#include "repo.h"
#include "validate.h"
#include "virt.h"

/* The disks to back up: DISKS (--disk), else every writable disk, less
 * EXCLUDE; NULL-terminated in *OUT.  -1 after reporting.
 */
int vk_choose_disks(const struct vk_disks *all, const char *domname, char *const *disks,
                    char *const *exclude, char ***out);

/* The preflight of a backup at LEVEL from checkpoint SINCE stacked on
 * PARENT, creating checkpoint NAME: the validator (unless NO_VALIDATE) and
 * the repository checks (REPO may be NULL: a dry run before the first
 * backup, then REPO_DIR is where it would go); QEMU_WRITES: QEMU itself
 * writes the backup's files (push mode), so it must reach them.  0 with
 * REP filled (errors may be > 0), -1 if the validator could not run
 * (reported).
 */
int vk_backup_preflight(virDomainPtr dom, struct vk_repo *repo, const char *repo_dir,
                        bool no_validate, enum vk_level level, const char *since,
                        const struct vk_backup *parent, char *const *targets, const char *name,
                        bool qemu_writes, struct vk_report *rep);

/* validate --repo: the preflight a backup of MODE into REPO_DIR would run
 * (validator and repository checks), with its level, checkpoint and parent
 * decided as the backup decides them (plan.h), read-only.  VK_MODE_AUTO is
 * answered by the incremental backup from the newest one that --auto
 * tries first, or by a full backup when the repository has none; SINCE is
 * the checkpoint of VK_MODE_INCREMENTAL.  TARGETS are the disks to back up
 * (NULL: those a backup would copy).  0 with REP filled (errors may be >
 * 0), -1 after reporting.
 */
int vk_repo_validate(virDomainPtr dom, const char *repo_dir, enum vk_mode mode,
                     const char *since, char *const *targets, struct vk_report *rep);

/* What `vckpt validate DOMAIN` checks, by name over CONN. */
struct vk_validate_request {
  const char *domain;
  const char *checkpoint;  /* incremental base; NULL: see below */
  bool full;               /* a full backup: bitmap rules do not apply */
  char *const *disks;      /* disks to back up; NULL: every disk */
  const char *repo;        /* also check this repository, or NULL */
  bool differential;       /* with REPO: a differential backup */
};
/* Look the domain up and validate it; with REPO, the preflight of the
 * backup of that level (vk_repo_validate): --full, --incremental
 * CHECKPOINT, --differential, or, with none of them, what tonight's
 * backup --auto would do (an incremental from the repository's newest
 * backup, or a full one when it has none).  0 with REP
 * filled (errors may be > 0), or -1 after reporting (domain not found,
 * repository unreadable...).  Everything it opens is closed again: a run
 * over many domains calls it once per domain in one process.
 */
int vk_validate_domain(virConnectPtr conn, const struct vk_validate_request *req,
                       struct vk_report *rep);

#endif
