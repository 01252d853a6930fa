/* vckpt - the plan of a backup, decided from facts (no libvirt here). */
#include <config.h>

#include <string.h>

#include "plan.h"
#include "util.h"

char *
vk_report_first_error(const struct vk_report *rep)
{
  for (size_t i = 0; rep && i < rep->n; i++)
    if (rep->f[i].severity == VK_SEV_ERROR)
      return vk_xasprintf("%s%s%s: %s", rep->f[i].code, rep->f[i].disk ? " " : "",
                          rep->f[i].disk ? rep->f[i].disk : "", rep->f[i].message);
  return vk_xstrdup("unknown");
}

void
vk_plan_take_findings(struct vk_plan *p, struct vk_report *from)
{
  p->report.running = from->running;
  for (size_t i = 0; i < from->n; i++) {
    struct vk_finding *f = &from->f[i];
    vk_report_add(&p->report, f->code, f->severity, f->disk, f->image, f->bitmap,
                  f->checkpoint, f->message, f->action);
    f->message = f->action = NULL;
  }
  /* The disks the preflight found must be copied whole (it skipped their
   * chain checks): the plan's disk decisions need them.
   */
  for (size_t i = 0; from->whole && from->whole[i]; i++)
    vk_report_whole(&p->report, from->whole[i]);
  vk_report_clear(from);
}

enum vk_job_kind
vk_plan_job(const struct vk_plan_facts *f)
{
  bool pull = f->pull > 0 || (f->pull < 0 && (f->remote || f->compress));
  return !f->running ? VK_JOB_OFFLINE : pull ? VK_JOB_PULL : VK_JOB_PUSH;
}

void
vk_plan_level(const struct vk_plan_facts *f, struct vk_plan *p)
{
  p->job = vk_plan_job(f);
  p->parent = NULL;
  if (!f->running && f->remote) {
    vk_report_add(&p->report, "remote-shut-off", VK_SEV_ERROR, NULL, NULL, NULL, NULL,
                  vk_xstrdup("the domain is shut off on a remote host: its images can be read "
                             "only there"),
                  vk_xstrdup("start the domain and back it up in pull mode, or run 'vckpt "
                             "backup' on the hypervisor itself"));
    return;
  }
  switch (f->mode) {
  case VK_MODE_FULL:
    p->level = VK_LEVEL_FULL;
    return;
  case VK_MODE_INCREMENTAL:
    p->level = VK_LEVEL_INCREMENTAL;
    p->since = f->since ? vk_xstrdup(f->since) : NULL;
    p->parent = f->since_backup;
    if (!p->parent)
      vk_report_add(&p->report, "previous-backup-missing", VK_SEV_ERROR, NULL, NULL, NULL,
                    f->since,
                    vk_xasprintf("the repository has no complete backup that ended at checkpoint "
                                 "'%s'", f->since ? f->since : ""),
                    vk_xstrdup("back up from a checkpoint listed by 'vckpt list-backups', or "
                               "take a full backup (--full)"));
    return;
  case VK_MODE_DIFFERENTIAL:
    p->level = VK_LEVEL_DIFFERENTIAL;
    p->parent = f->latest ? f->chain_full : NULL;
    if (!p->parent) {
      vk_report_add(&p->report, "previous-backup-missing", VK_SEV_ERROR, NULL, NULL, NULL, NULL,
                    vk_xstrdup("the repository has no full backup to take a differential from"),
                    vk_xstrdup("take a full backup first (--full)"));
      return;
    }
    /* A full backup prune made of a later point is differentiated from
     * its base (manifest.h): its own checkpoint is gone.
     */
    p->since = vk_xstrdup(vk_backup_diff_since(p->parent, NULL, NULL));
    return;
  case VK_MODE_AUTO:
    if (!f->latest) {
      p->level = VK_LEVEL_FULL;
      p->auto_reason = vk_xstrdup("the repository has no backup of this domain yet");
      return;
    }
    if (f->full_every_backups > 0 && f->chain_backups >= (size_t)f->full_every_backups) {
      p->level = VK_LEVEL_FULL;
      p->auto_reason = vk_xasprintf("the policy asks for a new full chain every %d backup%s, "
                                    "and the chain has %zu", f->full_every_backups,
                                    f->full_every_backups == 1 ? "" : "s", f->chain_backups);
      return;
    }
    if (f->full_every_days > 0 && f->chain_full && f->chain_full->start > f->now) {
      /* A wrong clock: a full "from the future" would never grow old. */
      p->level = VK_LEVEL_FULL;
      p->auto_reason = vk_xasprintf("the policy asks for a new full chain every %d day%s, and "
                                    "the chain's full backup's recorded time lies in the "
                                    "future (the clock was ahead when it was made, or is "
                                    "behind now): its age is unknown",
                                    f->full_every_days, f->full_every_days == 1 ? "" : "s");
      return;
    }
    if (f->full_every_days > 0 && f->chain_full &&
        f->now - f->chain_full->start >= (long long)f->full_every_days * 86400) {
      p->level = VK_LEVEL_FULL;
      p->auto_reason = vk_xasprintf("the policy asks for a new full chain every %d day%s, and "
                                    "the chain's full backup is %lld days old",
                                    f->full_every_days, f->full_every_days == 1 ? "" : "s",
                                    (f->now - f->chain_full->start) / 86400);
      return;
    }
    if (f->trial && f->trial->errors == 0) {
      /* The trial was this very backup's preflight: it is not run again. */
      p->level = VK_LEVEL_INCREMENTAL;
      p->since = vk_xstrdup(f->latest->checkpoint);
      p->parent = f->latest;
      vk_plan_take_findings(p, f->trial);
      p->preflight_done = true;
    } else {
      p->level = VK_LEVEL_FULL;
      p->auto_reason = vk_report_first_error(f->trial);
    }
    return;
  }
}

static bool
in_backup(const struct vk_backup *b, const char *target)
{
  for (size_t j = 0; b && j < b->nr_disks; j++)
    if (strcmp(b->disks[j].target, target) == 0)
      return true;
  return false;
}

void
vk_plan_disks(struct vk_plan *p, const struct vk_plan_disk_facts *d, size_t n)
{
  p->disks = vk_xcalloc(n + 1, sizeof *p->disks);
  p->n = n;
  for (size_t i = 0; i < n; i++) {
    struct vk_plan_disk *pd = &p->disks[i];
    pd->target = vk_xstrdup(d[i].target);
    pd->bitmap = !d[i].raw;
    if (p->level == VK_LEVEL_FULL)
      continue;
    bool whole = (p->report.whole && vk_strv_contains(p->report.whole, d[i].target)) ||
                 d[i].raw || !in_backup(p->parent, d[i].target);
    whole |= d[i].tracked == 0;
    whole |= p->since && d[i].size_then >= 0 && d[i].size_now >= 0 &&
             d[i].size_then != d[i].size_now;
    pd->whole = whole;
  }
  vk_strv_free(p->report.whole);
  p->report.whole = NULL;
  for (size_t i = 0; i < n; i++)
    if (p->disks[i].whole)
      vk_report_whole(&p->report, p->disks[i].target);
}

bool
vk_plan_refused(const struct vk_plan *p)
{
  return p->report.errors > 0;
}

static char **
targets_where(const struct vk_plan *p, int which)
{
  char **v = vk_xcalloc(p->n + 1, sizeof *v);
  size_t k = 0;
  for (size_t i = 0; i < p->n; i++)
    if (which == 0 || (which == 1 && p->disks[i].whole) || (which == 2 && p->disks[i].bitmap))
      v[k++] = p->disks[i].target;
  if (which == 1 && k == 0) {
    free(v);
    return NULL;
  }
  return v;
}

char **
vk_plan_targets(const struct vk_plan *p)
{
  return targets_where(p, 0);
}

char **
vk_plan_whole(const struct vk_plan *p)
{
  return targets_where(p, 1);
}

char **
vk_plan_bitmaps(const struct vk_plan *p)
{
  return targets_where(p, 2);
}

void
vk_plan_clear(struct vk_plan *p)
{
  free(p->since);
  free(p->auto_reason);
  vk_report_clear(&p->report);
  for (size_t i = 0; i < p->n; i++)
    free(p->disks[i].target);
  free(p->disks);
  memset(p, 0, sizeof *p);
}
