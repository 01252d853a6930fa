/* vckpt - the push job: libvirt copies each disk into a target file vckpt
 * created (virDomainBackupBegin, push mode, REUSE_EXTERNAL), followed to
 * its end through the job-completed and lifecycle events.
 */
#include <config.h>

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>

#include "backup.h"
#include "fileio.h"
#include "flow.h"
#include "job.h"
#include "process.h"
#include "quiesce.h"
#include "testhook.h"
#include "util.h"
#include "virt.h"
#include "xml.h"

static double
now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}


struct push {
  bool completed;   /* job-completed event */
  bool stopped;     /* the domain stopped (QEMU died or was shut down) */
  bool guest_shutdown;  /* the guest shut down; libvirt kept QEMU for the backup */
  bool catching;    /* vk_stop_catch_begin was called */
  bool quiesced;    /* frozen from before the start until after it */
  bool unquiesced;  /* --quiesce, but the guard thawed first: abort, fail */
  int cb_job, cb_life, timer, flusher;
  double start;
  struct vk_writeback wb;   /* of the targets */
};

/* libvirt takes every event callback as its one generic type
 * (VIR_DOMAIN_EVENT_CALLBACK casts to it) and calls it with the event's own
 * arguments.  Cast through void (*)(void), the type gcc and clang treat as
 * "any function", so that clang 19's -Wcast-function-type-mismatch (in
 * -Wextra) accepts the cast libvirt's API requires.
 */
#define EVENT_CALLBACK(cb) VIR_DOMAIN_EVENT_CALLBACK((void (*)(void))(cb))

/* The job-completed event: the backup job ended (how, the wait asks). */
static void
on_job_completed(virConnectPtr conn, virDomainPtr dom, virTypedParameterPtr params,
                 int nparams, void *opaque)
{
  ((struct push *)opaque)->completed = true;
}

/* The lifecycle event: notes that the domain stopped or crashed, or that
 * the guest shut down and libvirt paused it until the backup ends.
 */
static int
on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
  struct push *p = opaque;
  if (event == VIR_DOMAIN_EVENT_STOPPED || event == VIR_DOMAIN_EVENT_CRASHED)
    p->stopped = true;
  else if (event == VIR_DOMAIN_EVENT_SUSPENDED && detail == VK_EVENT_SUSPENDED_GUEST_SHUTDOWN)
    p->guest_shutdown = true;
  return 0;
}

/* Wakes the event loop so signals and progress are looked at. */
static void
on_tick(int timer, void *opaque)
{
}

/* Every 50 ms: start the writeback of what QEMU wrote into the targets so
 * far (fileio.h).  Measured on a full backup of 1 GiB: the job 1.4 s ->
 * 1.1 s, the backup 1.7 s -> 1.4 s; QEMU's own metadata flushes of the
 * target find less to write.
 */
static void
on_flush(int timer, void *opaque)
{
  vk_writeback_kick(&((struct push *)opaque)->wb);
}

static int
push_prepare(struct vk_job *job)
{
  for (size_t i = 0; i < job->spec.n; i++) {
    if (vk_stop_signal)
      return 1;
    if (vk_target_create(&job->spec.disks[i]) < 0)
      return -1;
  }
  return 0;
}

static char *
push_describe(struct vk_job *job)
{
  xmlDocPtr doc = vk_backup_xml(job->spec.incremental, job->spec.disks, job->spec.n,
                                job->spec.all);
  char *xml = vk_xml_format(doc);
  xmlFreeDoc(doc);
  return xml;
}

/* virDomainBackupBegin (vk_quiesce_around calls it, frozen or not). */
static int
push_begin(void *opaque)
{
  struct vk_job *job = opaque;
  const struct vk_job_spec *s = &job->spec;
  CLEANUP_FREE char *xml = push_describe(job);
  /* The daemon's version, not the library's: a daemon older than 11.10
   * refuses PRESERVE_SHUTDOWN_DOMAIN.
   */
  unsigned long version = 0;
  if (virConnectGetLibVersion(s->conn, &version) < 0)
    version = 0;
  int begun = virDomainBackupBegin(s->dom, xml, s->checkpoint_xml, vk_backup_begin_flags(version));
  if (begun < 0)
    vk_virt_job_error("cannot start the backup");
  return begun;
}

static int
push_start(struct vk_job *job)
{
  const struct vk_job_spec *s = &job->spec;
  struct push *p = vk_xcalloc(1, sizeof *p);
  p->cb_job = p->cb_life = p->timer = p->flusher = -1;
  job->priv = p;
  p->cb_job = virConnectDomainEventRegisterAny(s->conn, s->dom, VIR_DOMAIN_EVENT_ID_JOB_COMPLETED,
                                               EVENT_CALLBACK(on_job_completed), p,
                                               NULL);
  p->cb_life = virConnectDomainEventRegisterAny(s->conn, s->dom, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                EVENT_CALLBACK(on_lifecycle), p, NULL);
  if (p->cb_job < 0 || p->cb_life < 0) {
    vk_virt_error("cannot watch the backup job");
    return -1;
  }
  p->timer = virEventAddTimeout(250, on_tick, NULL, NULL);
  {
    const char **files = vk_xcalloc(s->n + 1, sizeof *files);
    for (size_t i = 0; i < s->n; i++)
      files[i] = s->disks[i].file;
    vk_writeback_open(&p->wb, files, s->n);
    free(files);
  }
  p->flusher = virEventAddTimeout(50, on_flush, p, NULL);
  vk_stop_catch_begin();
  p->catching = true;
  p->start = now();
  if (vk_stop_signal) {
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d before the backup started",
             (int)vk_stop_signal);
    return -1;
  }
  /* The guard may thaw before the checkpoint was surely created: wait
   * then aborts the job and fails it (p->unquiesced).
   */
  return vk_quiesce_around(s->conn, s->dom, s->quiesce, s->quiesce_try, push_begin, job,
                           &p->quiesced, &p->unquiesced);
}

static int
push_abort(struct vk_job *job)
{
  if (virDomainAbortJob(job->spec.dom) < 0) {
    vk_debug("abort: %s", vk_virt_last_message());
    return -1;
  }
  return 0;
}

/* Read the stats of the running (or, COMPLETED, finished) job. */
static int
job_stats(virDomainPtr dom, unsigned int flags, int *type, unsigned long long *processed,
          unsigned long long *total, char **errmsg)
{
  virTypedParameterPtr params = NULL;
  int n = 0;
  if (virDomainGetJobStats(dom, type, &params, &n, flags) < 0)
    return -1;
  *processed = *total = 0;
  /* Backup jobs count in the disk_* fields; other jobs in data_*. */
  if (virTypedParamsGetULLong(params, n, VIR_DOMAIN_JOB_DISK_PROCESSED, processed) != 1)
    virTypedParamsGetULLong(params, n, VIR_DOMAIN_JOB_DATA_PROCESSED, processed);
  if (virTypedParamsGetULLong(params, n, VIR_DOMAIN_JOB_DISK_TOTAL, total) != 1)
    virTypedParamsGetULLong(params, n, VIR_DOMAIN_JOB_DATA_TOTAL, total);
  if (errmsg) {
    const char *m = NULL;
    if (virTypedParamsGetString(params, n, VIR_DOMAIN_JOB_ERRMSG, &m) == 1 && m)
      *errmsg = vk_xstrdup(m);
  }
  virTypedParamsFree(params, n);
  return 0;
}

/* The verdict of a job that ended (or whose end we stopped waiting for). */
static void
push_verdict(struct vk_job *job, struct push *p, struct vk_job_result *res)
{
  virConnectPtr conn = job->spec.conn;
  virDomainPtr dom = job->spec.dom;
  int type = VIR_DOMAIN_JOB_NONE;
  unsigned long long done = 0, total = 0;
  CLEANUP_FREE char *errmsg = NULL;
  bool have = job_stats(dom, VIR_DOMAIN_JOB_STATS_COMPLETED, &type, &done, &total, &errmsg) == 0;
  res->bytes = done;
  res->ok = have && type == VIR_DOMAIN_JOB_COMPLETED && !res->interrupted;
  if (res->ok)
    return;
  if (!have && virConnectIsAlive(conn) != 1)
    res->error = vk_xstrdup("lost the connection to libvirt before the result of the backup "
                            "job could be read");
  else if (p->stopped || virDomainIsActive(dom) != 1)
    res->error = vk_xstrdup("the domain stopped during the backup (QEMU exited)");
  else if (res->interrupted)
    res->error = vk_xstrdup("aborted");
  else if (errmsg)
    res->error = vk_xstrdup(errmsg);
  else if (!have)
    res->error = vk_xasprintf("cannot read the result of the backup job: %s",
                              vk_virt_last_message());
  else
    res->error = vk_xstrdup("the backup job failed");
}

static int
push_wait(struct vk_job *job, const struct vk_flow_cb *cb, struct vk_job_result *res)
{
  struct push *p = job->priv;
  memset(res, 0, sizeof *res);
  res->quiesced = p->quiesced;
  double last = 0;
  int idle = 0;
  bool aborted = false;
  while (!p->completed && !p->stopped) {
    if (vk_stop_signal && !res->interrupted) {
      res->interrupted = true;
      if (!aborted)
        job->ops->abort(job);
      aborted = true;
    }
    if (p->unquiesced && !aborted) {
      job->ops->abort(job);
      aborted = true;
    }
    if (now() - last >= 0.5) {
      int type;
      unsigned long long done, total;
      last = now();
      if (virConnectIsAlive(job->spec.conn) != 1) {
        res->error = vk_xstrdup("lost the connection to libvirt during the backup");
        break;
      }
      if (job_stats(job->spec.dom, 0, &type, &done, &total, NULL) == 0) {
        if (type == VIR_DOMAIN_JOB_NONE)
          idle++;          /* a missed event must not hang us */
        else {
          idle = 0;
          vk_flow_progress(cb, done, total, now() - p->start, false);
        }
      }
      if (idle >= 4)
        break;
    }
    if (virEventRunDefaultImpl() < 0)
      break;
  }
  vk_flow_progress(cb, 0, 0, now() - p->start, true);
  res->seconds = now() - p->start;
  /* The job's own verdict first; the domain's state explains a failure
   * (the job-failed and lifecycle events can come in either order).  When
   * the connection is gone there is nothing more to ask.
   */
  if (!res->error)
    push_verdict(job, p, res);
  if (p->guest_shutdown && res->ok)
    vk_warn("the guest shut down during the backup: libvirt kept the domain paused until the "
            "backup finished and then ended it ('virsh resume' before that boots it again)");
  if (p->unquiesced && !res->interrupted) {
    res->ok = false;
    free(res->error);
    res->error = vk_xstrdup("the guard thawed the guest's file systems before the backup "
                            "started (vckpt took longer than the quiesce timeout): not a "
                            "quiesced backup");
  }
  return 0;
}

static void
push_close(struct vk_job *job)
{
  struct push *p = job->priv;
  if (!p)
    return;
  if (p->catching)
    vk_stop_catch_end();
  if (p->timer >= 0)
    virEventRemoveTimeout(p->timer);
  if (p->flusher >= 0)
    virEventRemoveTimeout(p->flusher);
  vk_writeback_close(&p->wb);
  if (p->cb_job >= 0)
    virConnectDomainEventDeregisterAny(job->spec.conn, p->cb_job);
  if (p->cb_life >= 0)
    virConnectDomainEventDeregisterAny(job->spec.conn, p->cb_life);
  free(p);
  job->priv = NULL;
}

/* Whether libvirt's backup job, described by RUNNING (its XML), writes
 * into one of FILES: the target file names are read with XPath (libvirt
 * escapes '&' and '\'' in them) and compared exactly.
 */
static bool
push_writes(const char *running, char *const *files)
{
  CLEANUP_XMLDOC xmlDocPtr doc = xmlReadMemory(running, strlen(running), "backup", NULL,
                                               XML_PARSE_NONET | XML_PARSE_NOERROR |
                                               XML_PARSE_NOWARNING);
  if (!doc)
    return false;
  CLEANUP_XPATHCTX xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  CLEANUP_XPATHOBJ xmlXPathObjectPtr targets =
    vk_xpath_nodes(ctx, NULL, "/domainbackup/disks/disk/target");
  for (int i = 0; i < vk_xpath_count(targets); i++) {
    CLEANUP_FREE char *file = vk_xpath_string(ctx, targets->nodesetval->nodeTab[i], "@file");
    if (file && vk_strv_contains(files, file))
      return true;
  }
  return false;
}

static int
push_reclaim(const struct vk_job_spec *spec, char *const *files, const struct vk_flow_cb *cb)
{
  CLEANUP_FREE char *running = virDomainBackupGetXMLDesc(spec->dom, 0);
  if (!running || !push_writes(running, files))
    return 0;
  vk_flow_message(cb, VK_MSG_WARNING,
                  "aborting the backup job an interrupted vckpt run left behind");
  vk_job_end_libvirt(spec->dom);
  return 1;
}

const struct vk_job_ops vk_job_push_ops = {
  .kind = "push",
  .prepare = push_prepare,
  .describe = push_describe,
  .start = push_start,
  .wait = push_wait,
  .abort = push_abort,
  .close = push_close,
  .reclaim = push_reclaim,
};
