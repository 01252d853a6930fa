/* vckpt - the backup flow: plan (plan.c, with the preflight of
 * preflight.c), journal, job (job.h), seal, then commit, or roll
 * everything back.  Nothing else lives here.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <libvirt/virterror.h>

#include "backup.h"
#include "checkpoint-xml.h"
#include "checkpoint.h"
#include "engine.h"
#include "fileio.h"
#include "flow.h"
#include "follow.h"
#include "hostlock.h"
#include "job.h"
#include "meta.h"
#include "policy.h"
#include "preflight.h"
#include "process.h"
#include "quiesce.h"
#include "state.h"
#include "testhook.h"
#include "util.h"
#include "virt.h"
#include "xml.h"

void
vk_backup_apply_policy(struct vk_backup_request *req, const struct vk_policy *pol)
{
  if (!req->repo_dir)
    req->repo_dir = pol->repo ? pol->repo : vk_default_repo(NULL);
  if (!req->disks && !req->exclude && pol->exclude_disks[0])
    req->exclude = pol->exclude_disks;
  if (pol->quiesce == 1)
    req->quiesce = true;
  if (!req->full_every_backups)
    req->full_every_backups = pol->full_every_backups;
  if (!req->full_every_days)
    req->full_every_days = pol->full_every_days;
  if (req->pull < 0 && pol->pull >= 0)
    req->pull = pol->pull;
  if (pol->compress == 1)
    req->compress = true;
  if (!req->pull_opts.scratch_dir)
    req->pull_opts.scratch_dir = pol->scratch_dir;
  if (!req->pull_opts.tls_dir)
    req->pull_opts.tls_dir = pol->nbd_tls_dir ? pol->nbd_tls_dir : VK_NBD_TLS_DIR;
  if (!req->pull_opts.timeout)
    req->pull_opts.timeout = pol->nbd_timeout;
  if (!req->pull_opts.port_min) {
    req->pull_opts.port_min = pol->port_min ? pol->port_min : VK_NBD_PORT_MIN;
    req->pull_opts.port_max = pol->port_max ? pol->port_max : VK_NBD_PORT_MAX;
  }
}

void
vk_backup_outcome_clear(struct vk_backup_outcome *o)
{
  free(o->id);
  free(o->chain);
  free(o->checkpoint);
  free(o->since);
  free(o->auto_reason);
  free(o->backup_xml);
  free(o->checkpoint_xml);
  vk_report_clear(&o->report);
  memset(o, 0, sizeof *o);
}

/* What drop_checkpoint did. */
enum drop {
  DROP_FAILED = -1,      /* libvirt unreachable or refused: *WHY says why */
  DROP_DELETED = 0,      /* deleted with its bitmaps */
  DROP_ABSENT,           /* there was no such checkpoint */
  DROP_NOT_OURS,         /* one of that name exists, with another identity: left alone */
  DROP_METADATA_ONLY,    /* only libvirt's metadata could go: the bitmaps stay */
  DROP_COMMITTED,        /* a committed backup's: not to be touched */
};

/* Delete the checkpoint NAME a failed backup created (libvirt leaves it),
 * through the one delete of checkpoint.c, but only if it is that backup's:
 * its description is IDENTITY (when known).  An admin's checkpoint that took
 * the name meanwhile is never touched.
 */
static enum drop
drop_checkpoint(virDomainPtr dom, const char *name, const char *identity, char **why)
{
  {
    CLEANUP_CHECKPOINT virDomainCheckpointPtr c = virDomainCheckpointLookupByName(dom, name, 0);
    if (!c && vk_virt_last_code() == VIR_ERR_NO_DOMAIN_CHECKPOINT)
      return DROP_ABSENT;
    CLEANUP_FREE char *xml = c ? virDomainCheckpointGetXMLDesc(c, 0) : NULL;
    if (!xml) {
      *why = virConnectIsAlive(virDomainGetConnect(dom)) != 1
        ? vk_xstrdup("libvirtd unreachable")
        : vk_xasprintf("cannot read checkpoint '%s': %s", name, vk_virt_last_message());
      return DROP_FAILED;
    }
    struct vk_ckpt ck = { 0 };
    bool ours = !identity || (vk_ckpt_parse(xml, name, &ck) == 0 && ck.description &&
                              strcmp(ck.description, identity) == 0);
    vk_ckpt_clear(&ck);
    if (!ours)
      return DROP_NOT_OURS;
  }
  /* A shut-off domain: libvirt 9.0 deletes only the metadata of its
   * checkpoints.  The bitmaps go first, with qemu-img (which fails on QEMU's
   * image lock if the domain started meanwhile: then libvirt deletes them).
   */
  if (!vk_domain_is_active(dom)) {
    CLEANUP_FREE char *w = NULL;
    int removed = vk_offline_remove_bitmaps(dom, name, &w);
    if (removed >= 0 || !vk_domain_is_active(dom)) {
      if (vk_checkpoint_delete(dom, name, VK_CKPT_DELETE_METADATA_ONLY |
                               VK_CKPT_DELETE_MISSING_OK, why) < 0)
        return DROP_FAILED;
      if (removed >= 0)
        return DROP_DELETED;
      vk_warn("only the metadata of checkpoint '%s' could be deleted (%s); its bitmap '%s' "
              "stays in the disk images (validate reports it as bitmap-orphan)", name, w, name);
      return DROP_METADATA_ONLY;
    }
  }
  CLEANUP_FREE char *ignored = NULL;
  int r = vk_checkpoint_delete(dom, name, VK_CKPT_DELETE_MISSING_OK, &ignored);
  if (r == 0)
    return DROP_DELETED;
  /* The bitmaps cannot go (QEMU refused): at least the metadata, said as is. */
  if (vk_checkpoint_delete(dom, name, VK_CKPT_DELETE_METADATA_ONLY, why) == 0) {
    vk_warn("only the metadata of checkpoint '%s' could be deleted (%s); its bitmap '%s' "
            "stays in the disk images (validate reports it as bitmap-orphan)", name,
            ignored ? ignored : "unknown error", name);
    return DROP_METADATA_ONLY;
  }
  return DROP_FAILED;
}

/* What the rollback did with checkpoint NAME, for messages. */
static const char *
drop_said(enum drop d)
{
  switch (d) {
  case DROP_DELETED: return "deleted";
  case DROP_ABSENT: return "was not created";
  case DROP_NOT_OURS: return "is not this backup's and was left alone";
  case DROP_METADATA_ONLY: return "deleted (metadata only: its bitmap stays)";
  case DROP_COMMITTED: return "belongs to a committed backup and was kept";
  case DROP_FAILED: break;
  }
  return "could not be deleted";
}

/* Finish what an earlier, killed run left: its job, checkpoint and files.
 * The journal goes only once the checkpoint is confirmed gone.
 */
static int
recover(virDomainPtr dom, struct vk_repo *repo, const struct vk_flow_cb *cb)
{
  const struct vk_backup *p = vk_repo_pending(repo);
  if (!p)
    return 0;
  CLEANUP_FREE char *ck = p->checkpoint ? vk_xstrdup(p->checkpoint) : NULL;
  /* A job a killed run left is stopped before its files go; it is ours
   * if it writes into one of the journal's files.
   */
  char **files = vk_xcalloc(p->nr_disks + 1, sizeof *files);
  for (size_t i = 0; i < p->nr_disks; i++)
    files[i] = vk_repo_target(repo, p->disks[i].file);
  struct vk_job_spec spec = { .conn = virDomainGetConnect(dom), .dom = dom };
  for (size_t k = 0; k < VK_JOB_KINDS; k++)
    if (vk_job_kinds[k]->reclaim && vk_job_kinds[k]->reclaim(&spec, files, cb) > 0)
      break;
  vk_strv_free(files);
  CLEANUP_FREE char *why = NULL;
  CLEANUP_FREE char *id = vk_xstrdup(p->id);
  enum drop d = DROP_ABSENT;
  /* Never the checkpoint of a committed backup: one with the same identity
   * (a stale or copied journal), or, without a recorded identity (a journal
   * of an older vckpt), one with the same name.
   */
  bool committed = false;
  const struct vk_manifest *m = vk_repo_manifest(repo);
  for (size_t i = 0; ck && i < m->nr_backups; i++)
    if (strcmp(m->backups[i].checkpoint, ck) == 0 &&
        (!p->identity || (m->backups[i].identity &&
                          strcmp(m->backups[i].identity, p->identity) == 0)))
      committed = true;
  if (ck)
    d = committed ? DROP_COMMITTED : drop_checkpoint(dom, ck, p->identity, &why);
  if (d == DROP_FAILED) {
    vk_error(VK_EXIT_FAILURE, "cannot finish the rollback of interrupted backup %s: its "
             "checkpoint '%s' could not be deleted (%s); its journal is kept for the next run",
             p->id, ck, why);
    return -1;
  }
  if (vk_repo_recover(repo) < 0)
    return -1;
  vk_flow_message(cb, VK_MSG_WARNING, "cleaned up after interrupted backup %s: partial files "
                  "removed%s%s%s%s", id, ck ? "; its checkpoint '" : "", ck ? ck : "",
                  ck ? "' " : "", ck ? drop_said(d) : "");
  return 0;
}

/* A checkpoint name for this backup that libvirt does not have yet:
 * "vckpt-TIME-RANDOM", so that two runs in the same second (on two hosts
 * sharing images, or after a bitmap was left behind) never pick the same.
 */
static char *
new_checkpoint_name(virDomainPtr dom)
{
  char stamp[VK_STAMP_LEN];
  vk_utc_stamp(time(NULL), stamp);
  for (;;) {
    char r[7];
    vk_random_hex6(r);
    char *name = vk_xasprintf("vckpt-%s-%s", stamp, r);
    virDomainCheckpointPtr c = virDomainCheckpointLookupByName(dom, name, 0);
    if (!c)
      return name;
    virDomainCheckpointFree(c);
    free(name);
  }
}

/* Decide the job kind and the level (plan.c) from the domain's state
 * (OFFLINE: shut off), the mode and the repository; run the preflight of
 * that level, unless --auto's trial was it.  -1 if a check could not run
 * (reported).
 */
static int
plan_level(virDomainPtr dom, struct vk_repo *repo, const struct vk_backup_request *req,
           bool offline, char *const *targets, const char *name, struct vk_plan *plan)
{
  const struct vk_backup *latest = repo ? vk_repo_latest(repo) : NULL;
  struct vk_plan_facts f = {
    .running = !offline, .remote = req->pull_opts.host != NULL, .pull = req->pull,
    .compress = req->compress, .mode = req->mode, .since = req->since, .latest = latest,
    .since_backup = repo && req->since ? vk_repo_find_by_checkpoint(repo, req->since) : NULL,
    .chain_full = latest ? vk_repo_chain_full(repo, latest->chain) : NULL,
    .full_every_backups = req->full_every_backups, .full_every_days = req->full_every_days,
    .now = (long long)time(NULL),
  };
  const struct vk_manifest *m = repo ? vk_repo_manifest(repo) : NULL;
  for (size_t i = 0; latest && m && i < m->nr_backups; i++)
    f.chain_backups += strcmp(m->backups[i].chain, latest->chain) == 0;
  struct vk_report trial = { 0 };
  if (req->mode == VK_MODE_AUTO && latest) {
    /* The preflight of an incremental backup from the newest one. */
    if (vk_backup_preflight(dom, repo, req->repo_dir, req->no_validate, VK_LEVEL_INCREMENTAL,
                            latest->checkpoint, latest, targets, name,
                            vk_plan_job(&f) == VK_JOB_PUSH, &trial) < 0)
      return -1;
    f.trial = &trial;
  }
  vk_plan_level(&f, plan);
  vk_report_clear(&trial);
  if (plan->report.errors == 0 && !plan->preflight_done) {
    struct vk_report rep = { 0 };
    if (vk_backup_preflight(dom, repo, req->repo_dir, req->no_validate, plan->level,
                            plan->since, plan->parent, targets, name, plan->job == VK_JOB_PUSH,
                            &rep) < 0)
      return -1;
    vk_plan_take_findings(plan, &rep);
  }
  return 0;
}

/* Whether disk TARGET is raw: no bitmaps, so every backup copies it whole. */
static bool
disk_is_raw(const struct vk_disks *all, const char *target)
{
  const struct vk_disk *d = vk_disks_find(all, target);
  return d && d->format && strcmp(d->format, "raw") == 0;
}

/* Gather the facts of each disk (format; for a non-full level whether
 * SINCE tracks it and its size then and now) and decide how it is copied.
 */
static void
plan_disks(virDomainPtr dom, const struct vk_disks *all, char *const *targets,
           struct vk_plan *plan)
{
  size_t n = vk_strv_len(targets);
  bool partial = plan->level != VK_LEVEL_FULL;
  struct vk_ckpt c = { 0 };
  virDomainCheckpointPtr chk = partial && plan->since
    ? virDomainCheckpointLookupByName(dom, plan->since, 0) : NULL;
  bool have = chk && vk_ckpt_get(chk, false, &c) == 0;
  if (chk)
    virDomainCheckpointFree(chk);
  struct vk_plan_disk_facts *d = vk_xcalloc(n + 1, sizeof *d);
  for (size_t i = 0; i < n; i++) {
    d[i] = (struct vk_plan_disk_facts) { .target = targets[i], .raw = disk_is_raw(all, targets[i]),
                                         .tracked = -1, .size_then = -1, .size_now = -1 };
    if (have) {
      d[i].tracked = 0;
      for (size_t j = 0; j < c.nr_disks; j++)
        if (strcmp(c.disks[j].name, targets[i]) == 0 && c.disks[j].bitmap)
          d[i].tracked = 1;
    }
    if (partial && plan->since) {
      virDomainBlockInfo bi;
      d[i].size_then = vk_meta_capacity(dom, plan->since, targets[i]);
      if (d[i].size_then >= 0 && virDomainGetBlockInfo(dom, targets[i], &bi, 0) == 0)
        d[i].size_now = (long long)bi.capacity;
    }
  }
  vk_ckpt_clear(&c);
  vk_plan_disks(plan, d, n);
  free(d);
}

/* Roll back a backup that did not complete: checkpoint, files, journal.
 * Returns 0 with *SAID telling what became of the checkpoint, or -1 with
 * *WHY set when the rollback is not complete (the checkpoint could not be
 * confirmed deleted, or files could not be removed): then the journal
 * stays, and the next run for the domain finishes the rollback (recover).
 */
static int
roll_back(virDomainPtr dom, struct vk_repo *repo, struct vk_backup *b, char **why,
          const char **said)
{
  enum drop d = drop_checkpoint(dom, b->checkpoint, b->identity, why);
  *said = drop_said(d);
  if (d == DROP_FAILED) {
    char *w = vk_xasprintf("checkpoint '%s' could not be deleted: %s", b->checkpoint, *why);
    free(*why);
    *why = w;
    return -1;
  }
  if (vk_repo_abort(repo, b) < 0) {
    *why = vk_xstrdup("some of its files could not be removed");
    return -1;
  }
  return 0;
}

/* Roll back after an error already reported; say so if it stays half done. */
static void
roll_back_after_error(virDomainPtr dom, struct vk_repo *repo, struct vk_backup *b)
{
  CLEANUP_FREE char *why = NULL;
  CLEANUP_FREE char *ck = vk_xstrdup(b->checkpoint);
  const char *said = NULL;
  if (roll_back(dom, repo, b, &why, &said) < 0)
    vk_error(VK_EXIT_FAILURE, "the rollback is not complete (%s); the next vckpt run for this "
             "domain will finish it", why);
  else if (vk_stop_signal && vk_error_reported())   /* the stop is reported: say the rest */
    vk_warn("interrupted by signal %d: the backup was rolled back (checkpoint '%s' %s, files "
            "removed)", (int)vk_stop_signal, ck, said);
  else if (vk_stop_signal)
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: the backup was rolled back "
             "(checkpoint '%s' %s, files removed)", (int)vk_stop_signal, ck, said);
  else
    vk_warn("the backup was rolled back: checkpoint '%s' %s, files removed", ck, said);
}

/* If a stop signal came, give up B (nothing started in libvirt yet
 * that the rollback does not undo) and report it.
 */
static bool
stopped_before_job(virDomainPtr dom, struct vk_repo *repo, struct vk_backup *b)
{
  if (!vk_stop_signal)
    return false;
  /* No checkpoint exists before the job: the repository's files only. */
  if (vk_repo_abort(repo, b) == 0)
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d before the backup job started: "
             "nothing was left behind", (int)vk_stop_signal);
  return true;
}

/* Start the job and see it through; seal, then commit or roll back. */
static int
run(virDomainPtr dom, struct vk_repo *repo, struct vk_backup *b,
    const struct vk_backup_request *req, struct vk_job *job, char *const *targets,
    struct vk_backup_outcome *out)
{
  CLEANUP_FREE char *name = vk_xstrdup(b->checkpoint);
  if (stopped_before_job(dom, repo, b))
    return -1;
  CLEANUP_FREE char *dxml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_SECURE);
  if (!dxml) {
    vk_virt_error("cannot read the domain XML");
    vk_repo_abort(repo, b);
    return -1;
  }
  int prepared = job->ops->prepare(job);
  if (prepared > 0 && stopped_before_job(dom, repo, b))
    return -1;
  if (prepared != 0) {
    vk_repo_abort(repo, b);
    return -1;
  }
  if (vk_repo_write_file(repo, b->domain_xml, dxml) < 0) {
    vk_repo_abort(repo, b);
    return -1;
  }
  if (stopped_before_job(dom, repo, b))
    return -1;
  vk_flow_message(req->cb, VK_MSG_DEBUG, "starting the %s job", job->ops->kind);
  struct vk_job_result res = { 0 };
  int started = job->ops->start(job);
  if (started == 0)
    vk_test_hook("job-started");
  if (started < 0 || job->ops->wait(job, req->cb, &res) < 0) {
    /* The checkpoint may exist if libvirt went away during the call. */
    vk_job_close(job);
    free(res.error);
    roll_back_after_error(dom, repo, b);
    return -1;
  }
  vk_job_close(job);
  out->bytes = res.bytes;
  out->seconds = res.seconds;
  if (!res.ok) {
    CLEANUP_FREE char *why = NULL;
    const char *said = NULL;
    if (roll_back(dom, repo, b, &why, &said) < 0)
      vk_error(VK_EXIT_FAILURE, "the backup %s: %s; the rollback is not complete (%s); the "
               "next vckpt run for this domain will finish it",
               res.interrupted ? "was interrupted" : "failed",
               res.error ? res.error : "unknown error", why);
    else if (res.interrupted)
      vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: the backup job was aborted, "
               "its checkpoint '%s' %s and its partial files removed",
               (int)vk_stop_signal, name, said);
    else
      vk_error(VK_EXIT_FAILURE, "the backup failed: %s; its checkpoint '%s' %s and its partial "
               "files were removed", res.error, name, said);
    free(res.error);
    return -1;
  }
  free(res.error);
  /* A running domain's backup records whether it was quiesced; a shut-off
   * domain has nothing to freeze (its consistency is that of its shutdown).
   */
  b->quiesced = res.quiesced ? VK_QUIESCED_YES : VK_QUIESCED_NO;
  vk_virt_host(virDomainGetConnect(dom), &b->host, &b->host_uri);

  /* Seal: QEMU finishes the target files when it closes them, after the
   * job's end is reported: checksums are taken once it has let go of them.
   */
  for (size_t i = 0; i < b->nr_disks; i++) {
    CLEANUP_FREE char *file = vk_repo_target(repo, b->disks[i].file);
    /* QEMU lets go within milliseconds of the job's end: look again after
     * 1, 2, 4 ... 64 ms, then every 64 ms, up to 60 s in all.
     */
    unsigned waited = 0, step = 1;
    while (vk_image_held(file) && waited < 60000) {
      usleep(step * 1000);
      waited += step;
      step = step < 64 ? step * 2 : 64;
    }
    if (waited > 0)
      vk_flow_message(req->cb, VK_MSG_DEBUG, "waited %u ms for QEMU to close %s", waited, file);
    if (waited >= 60000) {
      vk_error(VK_EXIT_FAILURE, "QEMU still has %s open 60 s after the backup ended", file);
      roll_back_after_error(dom, repo, b);
      return -1;
    }
  }
  virDomainCheckpointPtr chk = virDomainCheckpointLookupByName(dom, name, 0);
  CLEANUP_FREE char *ck_xml = chk ? virDomainCheckpointGetXMLDesc(chk, 0) : NULL;
  if (chk)
    virDomainCheckpointFree(chk);
  for (size_t i = 0; i < b->nr_disks; i++) {
    (void)vk_repo_file_allocated(repo, b->disks[i].file, &b->disks[i].bytes);
    out->written += b->disks[i].bytes;
  }
  if (!ck_xml) {
    vk_virt_error("cannot read checkpoint '%s' after the backup", name);
    roll_back_after_error(dom, repo, b);
    return -1;
  }
  if (vk_stop_signal) {
    roll_back_after_error(dom, repo, b);
    return -1;
  }
  if (out->auto_reason)
    b->note = vk_xasprintf("auto: new full chain: %s", out->auto_reason);
  /* The last libvirt call comes before hashing, which can take minutes. */
  vk_meta_record(dom, name, targets);
  vk_flow_message(req->cb, VK_MSG_DEBUG, "hashing and committing the backup files");
  /* Host state besides the disks (UEFI variables, TPM): state.h. */
  if (vk_state_store(repo, b, dom, dxml, req->pull_opts.host) < 0 ||
      vk_repo_write_file(repo, b->checkpoint_xml, ck_xml) < 0 || vk_repo_commit(repo, b) < 0) {
    roll_back_after_error(dom, repo, b);
    return -1;
  }
  return 0;
}

/* Everything that happens while the repository is open and locked: plan,
 * journal, job, seal, commit or roll back.  OFFLINE: the domain is shut
 * off (the plan then chooses the offline job, and there is nothing to
 * quiesce).
 */
static int
backup_locked(virConnectPtr conn, virDomainPtr dom, struct vk_repo *repo,
              const struct vk_backup_request *req, bool offline, struct vk_backup_outcome *out)
{
  const char *domname = virDomainGetName(dom);
  CLEANUP_STRV char **targets = NULL;
  CLEANUP_FREE char *name = NULL;
  CLEANUP_DISKS struct vk_disks all = { 0 };
  char uuid[VIR_UUID_STRING_BUFLEN];

  if (virDomainGetUUIDString(dom, uuid) < 0) {
    vk_virt_error("cannot read the UUID of domain '%s'", domname);
    return -1;
  }
  /* A dry run writes nothing; REPO is NULL when it has no backup yet. */
  if ((repo && vk_repo_check_uuid(repo, uuid) < 0) ||
      (!req->dry_run && recover(dom, repo, req->cb) < 0) ||
      vk_domain_disks(dom, 0, &all) < 0 ||
      vk_choose_disks(&all, domname, req->disks, req->exclude, &targets) < 0)
    return -1;
  if (req->name) {
    int e = vk_checkpoint_exists(dom, req->name);
    if (e != 0) {
      if (e > 0)
        vk_error(VK_EXIT_USAGE, "checkpoint '%s' already exists", req->name);
      return -1;
    }
    /* A name the repository recorded for an earlier backup (whose
     * checkpoint is gone now) would make that backup's saved checkpoint
     * XML and this one's ambiguous: a redefine from the repository could
     * bring back the wrong one.
     */
    const struct vk_backup *same = repo ? vk_repo_find_by_checkpoint(repo, req->name) : NULL;
    if (same) {
      vk_error(VK_EXIT_USAGE, "backup %s of the repository already ended at a checkpoint "
               "named '%s': choose another name", same->id, req->name);
      return -1;
    }
    name = vk_xstrdup(req->name);
  } else
    name = new_checkpoint_name(dom);

  /* The plan: level, parent, preflight, then how each disk is copied. */
  struct vk_plan plan = { 0 };
  if (plan_level(dom, repo, req, offline, targets, name, &plan) < 0) {
    vk_plan_clear(&plan);
    return -1;
  }
  out->level = plan.level;
  out->since = plan.since ? vk_xstrdup(plan.since) : NULL;
  out->auto_reason = plan.auto_reason ? vk_xstrdup(plan.auto_reason) : NULL;
  const struct vk_backup *parent = plan.parent;
  if (!plan.report.domain)
    plan.report.domain = vk_xstrdup(domname);
  if (plan.since && !plan.report.checkpoint)
    plan.report.checkpoint = vk_xstrdup(plan.since);
  if (vk_plan_refused(&plan)) {
    out->report = plan.report;
    memset(&plan.report, 0, sizeof plan.report);
    vk_plan_clear(&plan);
    vk_error(VK_EXIT_PREFLIGHT, "backup refused by the preflight check: %zu problem%s; "
             "nothing was started", out->report.errors, out->report.errors == 1 ? "" : "s");
    return -1;
  }
  if (vk_stop_signal && !req->dry_run) {
    out->report = plan.report;
    memset(&plan.report, 0, sizeof plan.report);
    vk_plan_clear(&plan);
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d before the backup started: "
             "nothing was changed", (int)vk_stop_signal);
    return -1;
  }
  /* One job, one point in time: disks that cannot be incremental are
   * copied whole (backupmode='full'), the others incrementally.  Raw
   * disks cannot hold a bitmap: the checkpoint leaves them out.
   */
  plan_disks(dom, &all, targets, &plan);
  out->report = plan.report;
  memset(&plan.report, 0, sizeof plan.report);
  CLEANUP_FREE char **whole = vk_plan_whole(&plan);
  CLEANUP_FREE char **tracked = vk_plan_bitmaps(&plan);

  /* The file of each disk: from the journal, or for a dry run, which
   * writes nothing, the names the backup would get.
   */
  size_t nt = vk_strv_len(targets);
  struct vk_backup *b = NULL;
  CLEANUP_STRV char **files = NULL;
  /* Not a NULL-terminated list: a disk copied whole has no backing, and
   * those after it may (freed one by one at the end).
   */
  char **backing = vk_xcalloc(nt + 1, sizeof *backing);
  CLEANUP_FREE struct vk_job_disk *jd = vk_xcalloc(nt + 1, sizeof *jd);
  CLEANUP_FREE char *identity = vk_ckpt_new_identity();
  if (req->dry_run) {
    struct vk_backup *would = NULL;
    files = vk_repo_names(repo, req->repo_dir, domname, out->level, parent, targets, &would);
    out->id = vk_xstrdup(would->id);
    out->chain = vk_xstrdup(would->chain);
    vk_backup_free(would);
  } else {
    files = vk_xcalloc(nt + 1, sizeof *files);
    if (vk_repo_begin(repo, out->level, name, out->since, parent, targets, whole, identity,
                      &b) < 0) {
      vk_plan_clear(&plan);
      free(backing);
      return -1;
    }
    for (size_t i = 0; i < nt; i++) {
      virDomainBlockInfo bi;
      if (virDomainGetBlockInfo(dom, b->disks[i].target, &bi, 0) == 0)
        b->disks[i].virtual_size = bi.capacity;
      files[i] = vk_repo_target(repo, b->disks[i].file);
      const char *bk = b->disks[i].backing;
      if (bk)
        backing[i] = vk_xstrdup(strrchr(bk, '/') ? strrchr(bk, '/') + 1 : bk);
    }
    out->id = vk_xstrdup(b->id);
    out->chain = vk_xstrdup(b->chain);
  }
  for (size_t i = 0; i < nt; i++)
    jd[i] = (struct vk_job_disk) { .target = targets[i], .file = files[i],
                                   .backing = backing[i], .whole = plan.disks[i].whole,
                                   .compress = req->compress,
                                   .size = b ? b->disks[i].virtual_size : 0 };
  CLEANUP_FREE char **alltargets = vk_xcalloc(all.n + 1, sizeof *alltargets);
  for (size_t i = 0, n = 0; i < all.n; i++)
    if (strcmp(all.disk[i].device, "disk") == 0 && !all.disk[i].readonly)
      alltargets[n++] = all.disk[i].target;
  struct vk_ckpt_spec spec = { .name = name, .description = identity, .disks = tracked,
                               .all_disks = alltargets };
  xmlDocPtr cdoc = vk_ckpt_build(&spec);
  out->checkpoint_xml = vk_xml_format(cdoc);
  xmlFreeDoc(cdoc);
  if (offline && req->quiesce)
    vk_flow_message(req->cb, VK_MSG_INFO, "domain '%s' is shut off: its file systems are "
                    "quiescent, --quiesce has nothing to freeze", domname);
  struct vk_job_spec js = {
    .conn = conn, .dom = dom, .incremental = out->since, .disks = jd, .n = nt,
    .all = alltargets, .checkpoint_xml = out->checkpoint_xml,
    .quiesce = req->quiesce && !offline, .quiesce_try = req->quiesce_try,
    .pull = &req->pull_opts,
  };
  struct vk_job job;
  vk_job_init(&job, plan.job, &js);
  out->backup_xml = job.ops->describe(&job);
  out->job = job.ops->kind;
  out->compressed = req->compress;
  out->checkpoint = vk_xstrdup(name);
  vk_flow_message(req->cb, VK_MSG_DEBUG, "backup XML:\n%s\ncheckpoint XML:\n%s", out->backup_xml,
                  out->checkpoint_xml);
  int r = 0;
  if (!req->dry_run)
    r = run(dom, repo, b, req, &job, targets, out);
  vk_job_close(&job);
  vk_plan_clear(&plan);
  for (size_t i = 0; i < nt; i++)
    free(backing[i]);
  free(backing);
  return r;
}

int
vk_backup(virConnectPtr conn, virDomainPtr dom, const struct vk_backup_request *req,
          struct vk_backup_outcome *out)
{
  const char *domname = virDomainGetName(dom);
  struct vk_repo *repo = NULL;
  /* Progress and messages: the caller's callbacks, else printed. */
  struct vk_flow_cb defcb = { .quiet = req->quiet };
  struct vk_backup_request withcb = *req;
  if (!withcb.cb)
    withcb.cb = &defcb;
  req = &withcb;

  memset(out, 0, sizeof *out);
  /* Running or shut off: the plan chooses the job kind from it.  A domain
   * that starts after this check makes the offline job fail cleanly
   * (busy): it never copies an image a running QEMU writes.
   */
  bool offline = !vk_domain_is_active(dom);
  /* A remote hypervisor: backed up in pull mode, its images not read here. */
  CLEANUP_FREE char *host = vk_conn_remote_host(conn);
  withcb.pull_opts.host = host;
  /* A remote running domain is pulled (unless --push): its certificates
   * are checked before anything starts.
   */
  if (host && !offline && req->pull != 0 && !req->dry_run &&
      vk_pull_tls_check(req->pull_opts.tls_dir) < 0)
    return -1;
  if (req->compress && req->pull == 0 && !offline) {
    vk_error(VK_EXIT_USAGE, "--push cannot write compressed files (libvirt's push mode has no "
             "compression): leave out --push, or --compress (or the policy's compress)");
    return -1;
  }
  if (req->name && vk_check_name("checkpoint", req->name) < 0)
    return -1;
  char uuid[VIR_UUID_STRING_BUFLEN];
  if (virDomainGetUUIDString(dom, uuid) < 0) {
    vk_virt_error("cannot read the UUID of domain '%s'", domname);
    return -1;
  }
  /* From here to the end a signal is noticed, not fatal: every phase
   * either rolls back (exit 6) or, once committed, completes.
   */
  vk_stop_catch_begin();
  int lockfd = -1;
  if (!req->dry_run && (lockfd = vk_host_lock(domname, uuid, req->repo_dir)) < 0) {
    vk_stop_catch_end();
    return -1;
  }
  /* A freeze a killed run may have left is thawed first (quiesce.h). */
  if (!req->dry_run && vk_quiesce_recover(dom, req->cb) < 0) {
    vk_host_unlock(lockfd);
    vk_stop_catch_end();
    return -1;
  }
  int r = -1;
  if (req->dry_run) {
    /* Read-only: no directory, no lock file, no journal is created. */
    CLEANUP_FREE char *dir = vk_xasprintf("%s/%s", req->repo_dir, domname);
    if (access(dir, F_OK) != 0 && errno == ENOENT)
      r = backup_locked(conn, dom, NULL, req, offline, out);
    else if (vk_repo_open(req->repo_dir, domname, false, false, &repo) == 0) {
      r = backup_locked(conn, dom, repo, req, offline, out);
      vk_repo_close(repo);
    }
  } else if (vk_repo_open(req->repo_dir, domname, true, true, &repo) == 0) {
    r = backup_locked(conn, dom, repo, req, offline, out);
    /* Checkpoints follow the repository (follow.h): the previous newest
     * backup's checkpoint is not needed any more.  The backup is
     * committed either way: a checkpoint that cannot be deleted is a
     * warning, recorded, and deleted by the next backup or prune.  Done
     * under the backup's own lock: a reader (verify) taking the
     * repository in between would make it wait.
     */
    if (r == 0)
      vk_test_hook("backup-committed");
    if (r == 0 && !vk_stop_signal && !req->keep_checkpoints)
      vk_checkpoints_follow(dom, repo, req->cb);
    vk_repo_close(repo);
  }
  vk_host_unlock(lockfd);
  if (r == 0 && vk_stop_signal && !req->dry_run)
    vk_flow_message(req->cb, VK_MSG_WARNING, "signal %d came too late to stop the backup: it was committed and is complete",
            (int)vk_stop_signal);
  vk_stop_catch_end();
  return r;
}
