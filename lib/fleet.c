/* vckpt - runs over many domains: the domains, and the runner (fleet.h).
 *
 * Each domain runs in a child process: this program re-executed with an
 * argv (vk_process_start, no shell), its --json result read through a pipe.
 * vckpt keeps its error, output, signal and libvirt state per process, so
 * a child can neither see nor spoil another domain's; a crash or leak in
 * one domain's run ends with that run.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fleet.h"
#include "process.h"
#include "util.h"
#include "virt.h"

/* Most a child may write on stdout (a result with findings is a few KiB). */
#define MAX_OUTPUT (16u << 20)

static int
cmp_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int
vk_fleet_domains(virConnectPtr conn, bool inactive, char ***names)
{
  virDomainPtr *doms = NULL;
  unsigned int flags = VIR_CONNECT_LIST_DOMAINS_ACTIVE;
  if (inactive)
    flags |= VIR_CONNECT_LIST_DOMAINS_INACTIVE;
  int n = virConnectListAllDomains(conn, &doms, flags);
  if (n < 0) {
    vk_virt_error("cannot list the domains");
    return -1;
  }
  /* Transient domains are left out: restore drills (vckpt-drill-*),
   * and anything else that leaves no definition to back up for.
   */
  char **v = vk_xcalloc(n + 1, sizeof *v);
  int k = 0;
  for (int i = 0; i < n; i++) {
    const char *name = virDomainGetName(doms[i]);
    if (virDomainIsPersistent(doms[i]) != 0)
      v[k++] = vk_xstrdup(name ? name : "");
    virDomainFree(doms[i]);
  }
  free(doms);
  n = k;
  qsort(v, n, sizeof *v, cmp_names);
  *names = v;
  return 0;
}

int
vk_fleet_host_domains(const char *uri, bool inactive, char ***names)
{
  virConnectPtr conn = vk_connect(uri);
  if (!conn)
    return -1;
  int r = vk_fleet_domains(conn, inactive, names);
  virConnectClose(conn);
  return r;
}

int
vk_fleet_repo_domains(const char *repo_dir, char ***names)
{
  static const char *const manifest[] = { "manifest.xml", NULL };
  return vk_fleet_repo_entries(repo_dir, manifest, false, names);
}

int
vk_fleet_repo_entries(const char *repo_dir, const char *const *markers, bool links,
                      char ***names)
{
  /* The repository's own path may be a symbolic link (vk_repo_open
   * resolves it too); nothing below it is followed.
   */
  int dfd = open(repo_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
  if (dfd < 0) {
    vk_error(errno == ENOENT ? VK_EXIT_NOT_FOUND : VK_EXIT_FAILURE, "repository %s: %s",
             repo_dir, strerror(errno));
    return -1;
  }
  DIR *d = fdopendir(dfd);
  if (!d) {
    vk_error(VK_EXIT_FAILURE, "repository %s: %s", repo_dir, strerror(errno));
    close(dfd);
    return -1;
  }
  size_t n = 0, cap = 8;
  char **v = vk_xcalloc(cap + 1, sizeof *v);
  struct dirent *e;
  errno = 0;
  while ((e = readdir(d))) {
    struct stat st;
    if (e->d_name[0] == '.')      /* ., .., and temporary names */
      continue;
    if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
      continue;
    bool take = links && S_ISLNK(st.st_mode);
    for (size_t i = 0; !take && S_ISDIR(st.st_mode) && markers[i]; i++) {
      struct stat mst;
      CLEANUP_FREE char *m = vk_xasprintf("%s/%s", e->d_name, markers[i]);
      take = fstatat(dfd, m, &mst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(mst.st_mode);
    }
    if (!take)
      continue;
    if (n == cap) {
      cap *= 2;
      v = vk_xrealloc(v, (cap + 1) * sizeof *v);
    }
    v[n++] = vk_xstrdup(e->d_name);
    v[n] = NULL;
    errno = 0;
  }
  int saved = errno;
  closedir(d);
  if (saved) {
    vk_error(VK_EXIT_FAILURE, "repository %s: %s", repo_dir, strerror(saved));
    vk_strv_free(v);
    return -1;
  }
  qsort(v, n, sizeof *v, cmp_names);
  *names = v;
  return 0;
}

/* A child running. */
struct child {
  pid_t pid;
  int fd;                 /* read end of its stdout */
  struct vk_fleet_task *task;
  char *buf;
  size_t len;
  struct timespec start;
};

static double
since(const struct timespec *t0)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Start TASK's child running PROGRAM; 0, or -1 with task->error set. */
static int
start_child(const char *program, struct vk_fleet_task *task, struct child *c)
{
  int pfd[2];
  task->started = true;
  if (pipe2(pfd, O_CLOEXEC) < 0) {
    task->error = vk_xasprintf("pipe: %s", strerror(errno));
    return -1;
  }
  size_t nargs = vk_strv_len(task->args);
  char **argv = vk_xcalloc(nargs + 2, sizeof *argv);
  argv[0] = (char *)program;
  for (size_t i = 0; i < nargs; i++)
    argv[i + 1] = task->args[i];

  /* PROGRAM is a path (no PATH search).  No signal blocked (the runner
   * blocks the stop signals between its polls), the stop signals at their
   * defaults: the child's vckpt catches them itself while it works.
   */
  int e = vk_process_start(argv, pfd[1], VK_CHILD_INHERIT, -1, &c->pid);
  free(argv);
  close(pfd[1]);
  if (e != 0) {
    close(pfd[0]);
    task->error = vk_xasprintf("cannot run %s: %s", program, strerror(e));
    return -1;
  }
  c->fd = pfd[0];
  c->task = task;
  c->buf = NULL;
  c->len = 0;
  clock_gettime(CLOCK_MONOTONIC, &c->start);
  vk_debug("%s: started pid %ld", task->name, (long)c->pid);
  return 0;
}

/* Read what child C wrote; true once it closed its stdout. */
static bool
read_child(struct child *c)
{
  char chunk[65536];
  ssize_t n = read(c->fd, chunk, sizeof chunk);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return false;
  if (n <= 0)
    return true;
  if (c->len + n <= MAX_OUTPUT) {
    c->buf = vk_xrealloc(c->buf, c->len + n + 1);
    memcpy(c->buf + c->len, chunk, n);
    c->len += n;
    c->buf[c->len] = '\0';
  }
  return false;
}

/* Reap child C and record its outcome in its task; FORWARDED is the stop
 * signal sent to it, or 0.
 */
static void
end_child(struct child *c, int forwarded)
{
  struct vk_fleet_task *t = c->task;
  int status = 0;
  close(c->fd);
  while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
    ;
  t->seconds = since(&c->start);
  t->output = c->buf ? c->buf : vk_xstrdup("");
  c->buf = NULL;
  if (WIFEXITED(status)) {
    t->status = WEXITSTATUS(status);
    /* Not one of ours (a crash handler, valgrind's 119...): a failure. */
    if (t->status > VK_EXIT_INTERRUPTED)
      t->status = VK_EXIT_FAILURE;
  } else {
    t->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    /* Killed by the stop signal we passed on before it could catch it:
     * it had not begun to change anything (vckpt catches the stop signals
     * before its first change), so nothing is left to roll back.
     */
    t->status = forwarded && t->signal == forwarded ? VK_EXIT_INTERRUPTED : VK_EXIT_FAILURE;
  }
  vk_debug("%s: pid %ld ended with status %d", t->name, (long)c->pid, t->status);
}

int
vk_fleet_run(struct vk_fleet_task *tasks, size_t n, unsigned jobs)
{
  for (size_t i = 0; i < n; i++)
    tasks[i].group = 0;
  return vk_fleet_run_groups(tasks, n, &jobs, 1);
}

int
vk_fleet_run_groups(struct vk_fleet_task *tasks, size_t n, const unsigned *group_jobs,
                    size_t ngroups)
{
  /* The program itself, by path: /proc/self/exe (under valgrind, the
   * program valgrind runs, not valgrind).
   */
  char program[PATH_MAX];
  ssize_t l = readlink("/proc/self/exe", program, sizeof program - 1);
  if (l < 0) {
    vk_error(VK_EXIT_FAILURE, "cannot find this program (/proc/self/exe): %s",
             strerror(errno));
    return -1;
  }
  program[l] = '\0';
  /* At most JOBS children at once, each group's own limit kept. */
  unsigned *busy = vk_xcalloc(ngroups, sizeof *busy);
  size_t jobs = 0;
  for (size_t g = 0; g < ngroups; g++)
    jobs += group_jobs[g] ? group_jobs[g] : 1;

  struct child *kids = vk_xcalloc(jobs, sizeof *kids);
  struct pollfd *pfds = vk_xcalloc(jobs, sizeof *pfds);
  size_t next = 0, running = 0;   /* NEXT: the first task not started */
  int forwarded = 0;

  /* The stop signals are blocked except inside ppoll(), so that one that
   * comes between the check of vk_stop_signal and the wait still ends the
   * wait.
   */
  sigset_t stop, orig;
  sigemptyset(&stop);
  vk_stop_sigset(&stop);
  vk_stop_catch_begin();
  sigprocmask(SIG_BLOCK, &stop, &orig);
  for (;;) {
    int sig = vk_stop_signal;
    if (sig && sig != forwarded) {
      for (size_t i = 0; i < running; i++)
        kill(kids[i].pid, sig);
      forwarded = sig;
    }
    /* In order, each task as soon as its group has room. */
    for (size_t i = next; !vk_stop_signal && running < jobs && i < n; i++) {
      struct vk_fleet_task *t = &tasks[i];
      unsigned limit = group_jobs[t->group] ? group_jobs[t->group] : 1;
      if (t->started || busy[t->group] >= limit)
        continue;
      if (start_child(program, t, &kids[running]) < 0)
        t->status = VK_EXIT_FAILURE;
      else {
        running++;
        busy[t->group]++;
      }
    }
    while (next < n && tasks[next].started)
      next++;
    if (running == 0)
      break;
    for (size_t i = 0; i < running; i++)
      pfds[i] = (struct pollfd) { .fd = kids[i].fd, .events = POLLIN };
    int r = ppoll(pfds, running, NULL, &orig);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      /* Cannot wait: should never happen; do not leave children behind. */
      vk_warn("poll: %s", strerror(errno));
    }
    for (size_t i = running; i-- > 0;) {
      if (r > 0 && !pfds[i].revents)
        continue;
      if (r > 0 && !read_child(&kids[i]))
        continue;
      busy[kids[i].task->group]--;
      end_child(&kids[i], forwarded);
      kids[i] = kids[--running];
      /* pfds[i] is stale now, but only indices below i are visited. */
    }
  }
  /* What a stop signal kept from starting. */
  for (size_t i = next; i < n; i++)
    if (!tasks[i].started)
      tasks[i].status = VK_EXIT_INTERRUPTED;
  sigprocmask(SIG_SETMASK, &orig, NULL);
  vk_stop_catch_end();
  free(busy);
  free(kids);
  free(pfds);
  return 0;
}

void
vk_fleet_task_clear(struct vk_fleet_task *t)
{
  vk_strv_free(t->args);
  free(t->error);
  free(t->output);
  t->args = NULL;
  t->error = t->output = NULL;
}
