/* vckpt - push-mode backup jobs through libvirt. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <libvirt/virterror.h>

#include "backup.h"
#include "util.h"
#include "virt.h"
#include "xml.h"

extern char **environ;
volatile sig_atomic_t vk_stop_signal;

xmlDocPtr
vk_backup_xml(const char *incremental, const struct vk_job_disk *disks, size_t n,
              char *const *all)
{
  xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
  xmlNodePtr root = xmlNewNode(NULL, (const xmlChar *)"domainbackup");
  xmlDocSetRootElement(doc, root);
  xmlNewProp(root, (const xmlChar *)"mode", (const xmlChar *)"push");
  if (incremental)
    vk_xml_add_text(root, "incremental", incremental);
  xmlNodePtr xdisks = xmlNewChild(root, NULL, (const xmlChar *)"disks", NULL);
  for (size_t i = 0; all && all[i]; i++) {
    const struct vk_job_disk *d = NULL;
    for (size_t j = 0; j < n && !d; j++)
      if (strcmp(disks[j].target, all[i]) == 0)
        d = &disks[j];
    xmlNodePtr x = xmlNewChild(xdisks, NULL, (const xmlChar *)"disk", NULL);
    xmlNewProp(x, (const xmlChar *)"name", (const xmlChar *)all[i]);
    if (!d) {
      xmlNewProp(x, (const xmlChar *)"backup", (const xmlChar *)"no");
      continue;
    }
    xmlNewProp(x, (const xmlChar *)"backup", (const xmlChar *)"yes");
    if (incremental && d->whole)
      xmlNewProp(x, (const xmlChar *)"backupmode", (const xmlChar *)"full");
    xmlNewProp(x, (const xmlChar *)"type", (const xmlChar *)"file");
    xmlNodePtr t = xmlNewChild(x, NULL, (const xmlChar *)"target", NULL);
    xmlNewProp(t, (const xmlChar *)"file", (const xmlChar *)d->file);
    xmlNodePtr drv = xmlNewChild(x, NULL, (const xmlChar *)"driver", NULL);
    xmlNewProp(drv, (const xmlChar *)"type", (const xmlChar *)"qcow2");
  }
  return doc;
}

int
vk_run(char *const argv[])
{
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) < 0) {
    vk_error(VK_EXIT_FAILURE, "pipe: %s", strerror(errno));
    return -1;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
  pid_t pid;
  int r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(pfd[1]);
  if (r != 0) {
    close(pfd[0]);
    vk_error(VK_EXIT_FAILURE, "cannot run %s: %s", argv[0], strerror(r));
    return -1;
  }
  char msg[4096];
  size_t len = 0;
  for (;;) {
    ssize_t n = read(pfd[0], msg + len, sizeof msg - 1 - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    len += n;
    if (len == sizeof msg - 1) {   /* keep draining, keep the start */
      char sink[4096];
      while ((n = read(pfd[0], sink, sizeof sink)) > 0 || (n < 0 && errno == EINTR))
        ;
      break;
    }
  }
  msg[len] = '\0';
  close(pfd[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) {
      vk_error(VK_EXIT_FAILURE, "waitpid: %s", strerror(errno));
      return -1;
    }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return 0;
  while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
    msg[--len] = '\0';
  if (WIFEXITED(status))
    vk_error(VK_EXIT_FAILURE, "%s failed (exit %d)%s%s", argv[0], WEXITSTATUS(status),
             len ? ": " : "", msg);
  else if (vk_stop_signal)   /* the terminal's Ctrl-C reached it too */
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d while %s ran", (int)vk_stop_signal,
             argv[0]);
  else
    vk_error(VK_EXIT_FAILURE, "%s killed by signal %d", argv[0], WTERMSIG(status));
  return -1;
}

int
vk_target_create(const struct vk_job_disk *d)
{
  char size[32];
  snprintf(size, sizeof size, "%llu", (unsigned long long)d->size);
  if (d->backing) {
    char *argv[] = { (char *)QEMU_IMG, "create", "-q", "-f", "qcow2", "-F", "qcow2",
                     "-b", (char *)d->backing, (char *)d->file, size, NULL };
    return vk_run(argv);
  }
  char *argv[] = { (char *)QEMU_IMG, "create", "-q", "-f", "qcow2", (char *)d->file,
                   size, NULL };
  return vk_run(argv);
}

/* State shared with the event callbacks while a job runs. */
struct jobwait {
  bool completed;   /* job-completed event */
  bool stopped;     /* the domain stopped (QEMU died or was shut down) */
};

static void
on_job_completed(virConnectPtr conn, virDomainPtr dom, virTypedParameterPtr params,
                 int nparams, void *opaque)
{
  ((struct jobwait *)opaque)->completed = true;
}

static int
on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
  if (event == VIR_DOMAIN_EVENT_STOPPED || event == VIR_DOMAIN_EVENT_CRASHED)
    ((struct jobwait *)opaque)->stopped = true;
  return 0;
}

/* Wakes the event loop so signals and progress are looked at. */
static void
on_tick(int timer, void *opaque)
{
}

static void
on_signal(int sig)
{
  vk_stop_signal = sig;
}

static int catch_depth;
static struct sigaction saved_int, saved_term;

void
vk_stop_catch_begin(void)
{
  if (catch_depth++ > 0)
    return;
  /* SA_RESTART: reads and writes go on; poll() in the event loop still
   * returns early, and every phase looks at vk_stop_signal.
   */
  struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &saved_int);
  sigaction(SIGTERM, &sa, &saved_term);
}

void
vk_stop_catch_end(void)
{
  if (catch_depth == 0 || --catch_depth > 0)
    return;
  sigaction(SIGINT, &saved_int, NULL);
  sigaction(SIGTERM, &saved_term, NULL);
}

static double
now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
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

static void
progress(bool tty, double start, unsigned long long done, unsigned long long total)
{
  if (!tty)
    return;
  char a[32], b[32], r[32];
  double dt = now() - start;
  vk_human_size(done, a, sizeof a);
  vk_human_size(total, b, sizeof b);
  vk_human_size(dt > 0 ? done / dt : 0, r, sizeof r);
  fprintf(stderr, "\r%3d%%  %s of %s  %s/s   ",
          total ? (int)(100.0 * done / total) : 0, a, b, r);
  fflush(stderr);
}

int
vk_backup_run(virConnectPtr conn, virDomainPtr dom, const char *backup_xml,
              const char *checkpoint_xml, bool quiesce, bool quiet,
              struct vk_job_result *res)
{
  struct jobwait w = { 0 };
  memset(res, 0, sizeof *res);
  int cb1 = virConnectDomainEventRegisterAny(conn, dom, VIR_DOMAIN_EVENT_ID_JOB_COMPLETED,
                                             VIR_DOMAIN_EVENT_CALLBACK(on_job_completed), &w, NULL);
  int cb2 = virConnectDomainEventRegisterAny(conn, dom, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                             VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), &w, NULL);
  if (cb1 < 0 || cb2 < 0) {
    vk_virt_error("cannot watch the backup job");
    if (cb1 >= 0)
      virConnectDomainEventDeregisterAny(conn, cb1);
    if (cb2 >= 0)
      virConnectDomainEventDeregisterAny(conn, cb2);
    return -1;
  }
  int timer = virEventAddTimeout(250, on_tick, NULL, NULL);

  vk_stop_catch_begin();

  double start = now();
  int r = -1;
  if (vk_stop_signal) {
    res->interrupted = true;
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d before the backup started",
             (int)vk_stop_signal);
    goto out;
  }
  if (quiesce && virDomainFSFreeze(dom, NULL, 0, 0) < 0) {
    vk_virt_error("cannot freeze the guest's file systems (--quiesce needs the guest agent)");
    goto out;
  }
  int begun = virDomainBackupBegin(dom, backup_xml, checkpoint_xml,
                                   VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL);
  if (begun < 0)
    vk_virt_job_error("cannot start the backup");
  if (quiesce && virDomainFSThaw(dom, NULL, 0, 0) < 0)
    vk_warn("cannot thaw the guest's file systems: %s", vk_virt_last_message());
  if (begun < 0)
    goto out;
  r = 0;
  bool tty = !quiet && isatty(STDERR_FILENO);
  bool aborted = false;
  double last = 0;
  int idle = 0;
  while (!w.completed && !w.stopped) {
    if (vk_stop_signal && !aborted) {
      aborted = true;
      res->interrupted = true;
      if (virDomainAbortJob(dom) < 0)
        vk_debug("abort: %s", vk_virt_last_message());
    }
    if (now() - last >= 0.5) {
      int type;
      unsigned long long done, total;
      last = now();
      if (virConnectIsAlive(conn) != 1) {
        res->error = vk_xstrdup("lost the connection to libvirt during the backup");
        break;
      }
      if (job_stats(dom, 0, &type, &done, &total, NULL) == 0) {
        if (type == VIR_DOMAIN_JOB_NONE)
          idle++;          /* a missed event must not hang us */
        else {
          idle = 0;
          progress(tty, start, done, total);
        }
      }
      if (idle >= 4)
        break;
    }
    if (virEventRunDefaultImpl() < 0)
      break;
  }
  if (tty)
    fputs("\r\033[K", stderr);
  res->seconds = now() - start;

  /* The job's own verdict first; the domain's state explains a failure
   * (the job-failed and lifecycle events can come in either order).
   */
  int type = VIR_DOMAIN_JOB_NONE;
  unsigned long long done = 0, total = 0;
  char *errmsg = NULL;
  if (res->error) {   /* the connection is gone: nothing more to ask */
    r = 0;
    goto out;
  }
  bool have = job_stats(dom, VIR_DOMAIN_JOB_STATS_COMPLETED, &type, &done, &total, &errmsg) == 0;
  res->bytes = done;
  res->ok = have && type == VIR_DOMAIN_JOB_COMPLETED && !res->interrupted;
  if (!res->ok) {
    if (!have && virConnectIsAlive(conn) != 1)
      res->error = vk_xstrdup("lost the connection to libvirt before the result of the backup "
                              "job could be read");
    else if (w.stopped || virDomainIsActive(dom) != 1)
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
  free(errmsg);
 out:
  vk_stop_catch_end();
  if (timer >= 0)
    virEventRemoveTimeout(timer);
  virConnectDomainEventDeregisterAny(conn, cb1);
  virConnectDomainEventDeregisterAny(conn, cb2);
  return r;
}
