/* vckpt - the preflight of a backup (validator and repository checks), and
 * the choice of the disks to back up.  Gathered by the flow (engine.c) as
 * facts for the plan (plan.h).
 */
#ifndef VCKPT_PREFLIGHT_H
#define VCKPT_PREFLIGHT_H

#include <stdbool.h>
#include <libvirt/libvirt.h>

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
 * backup, then REPO_DIR is where it would go).  0 with REP filled (errors
 * may be > 0), -1 if the validator could not run (reported).
 */
int vk_backup_preflight(virDomainPtr dom, struct vk_repo *repo, const char *repo_dir,
                        bool no_validate, enum vk_level level, const char *since,
                        const struct vk_backup *parent, char *const *targets, const char *name,
                        struct vk_report *rep);

#endif
