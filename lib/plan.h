/* vckpt - the plan of a backup: its level, the checkpoint it is relative
 * to, the backup it stacks on, how each disk is copied (incrementally, or
 * whole), and the preflight findings that allow or refuse it.
 *
 * It also chooses the kind of job that copies the data (job.h).
 *
 * Deciding is a pure function of facts, testable without libvirt
 * (tests/test-plan.c): the flow (engine.c) gathers the facts from libvirt
 * and the repository, in two steps because the second depends on the level:
 *
 *   facts (mode, repository, --auto's trial preflight)  -> vk_plan_level
 *   preflight of the chosen level, if not run yet        (engine.c)
 *   facts per disk (format, checkpoint, sizes)           -> vk_plan_disks
 *
 * The preflight runs once: for --auto the trial of an incremental backup
 * from the newest one is the preflight when it passes.  Only when it
 * refuses, and --auto falls back to a full backup, does the preflight of
 * that full backup run (a different check).
 */
#ifndef VCKPT_PLAN_H
#define VCKPT_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "job.h"
#include "repo.h"
#include "validate.h"

enum vk_mode { VK_MODE_FULL, VK_MODE_INCREMENTAL, VK_MODE_DIFFERENTIAL, VK_MODE_AUTO };

/* What the level and the job kind depend on. */
struct vk_plan_facts {
  bool running;                         /* the domain runs (else it is shut off) */
  bool remote;                          /* on a remote hypervisor (its files are not here) */
  int pull;                             /* --pull: 1, --push: 0, neither: -1 */
  bool compress;                        /* zstd-compressed backup files */
  enum vk_mode mode;
  const char *since;                    /* --incremental CHECKPOINT */
  const struct vk_backup *latest;       /* the newest complete backup, or NULL */
  const struct vk_backup *since_backup; /* the complete backup that ended at SINCE, or NULL */
  const struct vk_backup *chain_full;   /* the full backup of LATEST's chain, or NULL */
  /* --auto with LATEST: the preflight of an incremental backup from
   * LATEST's checkpoint stacked on LATEST (validator and repository
   * checks).  vk_plan_level takes its findings when it chooses it.
   */
  struct vk_report *trial;
  /* --auto's level schedule (the policy file): a new full chain once
   * LATEST's chain holds FULL_EVERY_BACKUPS backups, or its full backup is
   * FULL_EVERY_DAYS days old at NOW (0: no such rule).
   */
  int full_every_backups, full_every_days;
  size_t chain_backups;                 /* backups in LATEST's chain */
  long long now;                        /* unix time */
};

/* What the way each disk is copied depends on (non-full levels). */
struct vk_plan_disk_facts {
  const char *target;
  bool raw;              /* raw format: no bitmap, never incremental */
  int tracked;           /* the plan's SINCE tracks it with a bitmap: 1, 0, or -1 unknown */
  long long size_then;   /* virtual size recorded at SINCE, or -1 unknown */
  long long size_now;    /* virtual size now, or -1 unknown */
};

struct vk_plan_disk {
  char *target;
  bool whole;            /* copied whole (backupmode='full') in a non-full backup */
  bool bitmap;           /* the new checkpoint tracks it (not raw) */
};

struct vk_plan {
  enum vk_job_kind job;           /* what copies the data */
  enum vk_level level;
  char *since;                    /* checkpoint the changes are relative to, or NULL */
  const struct vk_backup *parent; /* the backup this one stacks on, or NULL */
  char *auto_reason;              /* --auto fell back to full: why */
  bool preflight_done;            /* REPORT already holds the level's preflight */
  struct vk_report report;        /* findings; errors > 0 refuses the backup */
  size_t n;
  struct vk_plan_disk *disks;     /* the disks backed up, in order */
};

/* Decide the job kind, level, SINCE, parent and --auto's reason from F.
 * Adds the findings that refuse the level outright (no parent backup).
 * The job: for a running domain libvirt's pull job (read by vckpt) with
 * --pull, and by default for a remote domain or compressed files, else
 * its push job; the offline job for a shut-off local domain.  A shut-off
 * remote domain is refused (its images are not on this host).
 */
void vk_plan_level(const struct vk_plan_facts *f, struct vk_plan *p);
/* The job kind alone (vk_plan_level's choice). */
enum vk_job_kind vk_plan_job(const struct vk_plan_facts *f);
/* Decide how each of the N disks of D is copied, from the preflight's
 * findings (P->report.whole) and the facts: a non-full backup copies
 * whole raw disks, disks the parent lacks, disks SINCE does not track and
 * disks resized since SINCE (checked here again so that --no-validate
 * cannot stack on nothing).  Sets P->report.whole to the result.
 */
void vk_plan_disks(struct vk_plan *p, const struct vk_plan_disk_facts *d, size_t n);
/* Whether the preflight refuses the plan. */
bool vk_plan_refused(const struct vk_plan *p);
/* Move the findings of FROM into P's report (FROM is left empty). */
void vk_plan_take_findings(struct vk_plan *p, struct vk_report *from);
/* The first error of a report, "CODE [DISK]: message" (--auto's reason). */
char *vk_report_first_error(const struct vk_report *rep);
/* NULL-terminated lists of the plan's disks (free the array only: the
 * strings belong to P): all of them, those copied whole (NULL if none),
 * those the new checkpoint tracks.
 */
char **vk_plan_targets(const struct vk_plan *p);
char **vk_plan_whole(const struct vk_plan *p);
char **vk_plan_bitmaps(const struct vk_plan *p);
void vk_plan_clear(struct vk_plan *p);

#endif
