/* vckpt - quiesce: a guarded freeze of the guest's file systems (quiesce.h).
 *
 * The guard is this program re-executed (/proc/self/exe, started by
 * process.c, no shell) as the hidden command "quiesce-guard URI UUID", in
 * its own process group, with its end of a socket pair as descriptor 3:
 * a fresh process with its own libvirt connection (libvirt's client state
 * is not safe to use in a forked copy), opened when it starts, to prove
 * it can, and again when it has to thaw.  The protocol on the socket
 * pair, one byte each:
 *   guard -> parent  'R' ready (it reached libvirt and found the domain),
 *                    'E' it cannot (the parent does not freeze then);
 *   parent -> guard  'T' thawed: the guard answers 'K' and exits, thawing
 *                    nothing;
 *   guard -> parent  'X' it thawed on its own (timeout or signal) before
 *                    the parent's 'T'.
 * End of file from the parent before 'T' (vckpt exited or was killed):
 * the guard thaws at once.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "hostlock.h"
#include "process.h"
#include "quiesce.h"
#include "testhook.h"
#include "util.h"
#include "virt.h"

extern char **environ;

struct vk_quiesce {
  pid_t guard;
  int fd;           /* the parent's end of the socket pair */
  char *marker;     /* path of the marker */
  virDomainPtr dom;
};


static char *
marker_path(virDomainPtr dom)
{
  char uuid[VIR_UUID_STRING_BUFLEN];
  if (virDomainGetUUIDString(dom, uuid) < 0)
    return NULL;
  return vk_xasprintf("%s/%s.frozen", vk_run_dir(), uuid);
}

/* Seconds the guard waits for the parent's thaw before thawing itself. */
static int
guard_timeout(void)
{
  const char *env = getenv("VCKPT_QUIESCE_TIMEOUT");
  if (env && *env) {
    char *end = NULL;
    long v = strtol(env, &end, 10);
    if (end && !*end && v > 0 && v <= 86400)
      return (int)v;
  }
  return VK_QUIESCE_TIMEOUT;
}

static double
now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Read one byte from FD within MS milliseconds: the byte, 0 at end of
 * file or on an error, -1 on timeout.
 */
static int
read_byte(int fd, int ms)
{
  double end = now() + ms / 1000.0;
  for (;;) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int left = (int)((end - now()) * 1000);
    int n = poll(&p, 1, left > 0 ? left : 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0)
      return -1;
    if (n < 0)
      return 0;
    unsigned char c;
    ssize_t r = read(fd, &c, 1);
    if (r < 0 && errno == EINTR)
      continue;
    return r == 1 ? c : 0;
  }
}

static void
write_byte(int fd, char c)
{
  while (send(fd, &c, 1, MSG_NOSIGNAL) < 0 && errno == EINTR)
    ;
}

/* ---- the guard (its own process) ---- */

/* Open a connection to URI and look up UUID: the domain, or NULL. */
static virDomainPtr
guard_domain(const char *uri, const char *uuid, virConnectPtr *conn)
{
  *conn = virConnectOpen(uri);
  if (!*conn)
    return NULL;
  virDomainPtr d = virDomainLookupByUUIDString(*conn, uuid);
  if (!d) {
    virConnectClose(*conn);
    *conn = NULL;
  }
  return d;
}

int
vk_quiesce_guard(const char *uri, const char *uuid)
{
  const int fd = 3;
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
    vk_error(VK_EXIT_USAGE, "quiesce-guard is started by backup --quiesce only");
    return -1;
  }
  /* The terminal's Ctrl-C goes to vckpt (the guard has its own process
   * group), which thaws; a stop signal sent to the guard itself makes it
   * thaw.  The catch lasts until the guard's process ends.
   */
  vk_stop_catch_begin();
  CLEANUP_FREE char *marker = vk_xasprintf("%s/%s.frozen", vk_run_dir(), uuid);

  virConnectPtr conn = NULL;
  virDomainPtr d = guard_domain(uri, uuid, &conn);
  if (!d) {
    write_byte(fd, 'E');
    vk_error(VK_EXIT_FAILURE, "quiesce guard: cannot reach domain %s: %s", uuid,
             vk_virt_last_message());
    return -1;
  }
  CLEANUP_FREE char *domname = vk_xstrdup(virDomainGetName(d));
  virDomainFree(d);
  virConnectClose(conn);
  write_byte(fd, 'R');

  const char *why = NULL;
  double end = now() + guard_timeout();
  while (!why) {
    if (vk_stop_signal) {
      why = "the guard was asked to stop";
      break;
    }
    int left = (int)((end - now()) * 1000);
    if (left <= 0) {
      why = "vckpt did not thaw in time";
      break;
    }
    struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
                           { .fd = vk_stop_fd(), .events = POLLIN } };
    int n = poll(p, p[1].fd >= 0 ? 2 : 1, left);
    if (n <= 0 || !p[0].revents)
      continue;
    unsigned char c;
    ssize_t r = read(fd, &c, 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r == 1 && c == 'T') {
      write_byte(fd, 'K');
      return 0;
    }
    if (r <= 0)
      why = "vckpt ended while the guest was frozen";
  }
  int rc = -1;
  for (int attempt = 0; attempt < 3 && rc < 0; attempt++) {
    d = guard_domain(uri, uuid, &conn);
    if (d && virDomainFSThaw(d, NULL, 0, 0) >= 0)
      rc = 0;
    if (d)
      virDomainFree(d);
    if (conn)
      virConnectClose(conn);
    if (rc < 0)
      sleep(1);
  }
  if (rc == 0) {
    unlink(marker);
    vk_warn("%s: the guard thawed the file systems of domain '%s'", why, domname);
  } else
    vk_error(VK_EXIT_FAILURE, "%s: the guard could not thaw the file systems of domain '%s' "
             "(%s); the next backup of the domain thaws them (marker %s)", why, domname,
             vk_virt_last_message(), marker);
  write_byte(fd, 'X');
  return rc;
}

/* ---- the parent ---- */

/* Start "PROGRAM quiesce-guard URI UUID" with FD as its descriptor 3, in
 * its own process group, stdin and stdout /dev/null, no signal blocked,
 * the stop signals at their defaults.  0 with *PID, or an errno.
 */
static int
spawn_guard(const char *uri, const char *uuid, int fd, pid_t *pid)
{
  /* The program itself, by path: /proc/self/exe (under valgrind, the
   * program valgrind runs, not valgrind).
   */
  char program[PATH_MAX];
  ssize_t l = readlink("/proc/self/exe", program, sizeof program - 1);
  if (l <= 0)
    return errno ? errno : ENOENT;
  program[l] = '\0';
  char *argv[] = { program, (char *)"quiesce-guard", (char *)uri, (char *)uuid, NULL };
  return vk_process_start_with(argv, VK_CHILD_NULL, VK_CHILD_INHERIT, fd, VK_CHILD_GROUP, pid);
}

static int
write_marker(const char *path, const char *domname)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  CLEANUP_FREE char *text = vk_xasprintf("pid=%ld\nstart=%lld\ndomain=%s\n", (long)getpid(),
                                         (long long)time(NULL), domname);
  int r = vk_write_all(fd, text, strlen(text), path);
  close(fd);
  return r;
}

/* End the guard: tell it (if TELL), read its answer, reap it.  The answer
 * byte ('K', 'X', ...) or 0.
 */
static int
end_guard(struct vk_quiesce *q, bool tell)
{
  int c = 0;
  if (tell) {
    write_byte(q->fd, 'T');
    c = read_byte(q->fd, 10000);
  }
  close(q->fd);
  q->fd = -1;
  /* Told and answered: it exits at once; otherwise do not wait for its
   * thaw (it may take the agent's time): reaped if already gone.
   */
  int st;
  if (c == 'K' || c == 'X')
    while (waitpid(q->guard, &st, 0) < 0 && errno == EINTR)
      ;
  else
    waitpid(q->guard, &st, WNOHANG);
  return c > 0 ? c : 0;
}

static void
q_free(struct vk_quiesce *q)
{
  if (!q)
    return;
  if (q->fd >= 0)
    close(q->fd);
  free(q->marker);
  if (q->dom)
    virDomainFree(q->dom);
  free(q);
}

int
vk_quiesce_freeze(virConnectPtr conn, virDomainPtr dom, struct vk_quiesce **qp, char **why,
                  bool *no_agent)
{
  *qp = NULL;
  *no_agent = false;
  const char *domname = virDomainGetName(dom);
  char uuid[VIR_UUID_STRING_BUFLEN];
  CLEANUP_FREE char *uri = virConnectGetURI(conn);
  if (!uri || virDomainGetUUIDString(dom, uuid) < 0) {
    *why = vk_xasprintf("cannot read the connection URI or domain UUID: %s",
                        vk_virt_last_message());
    return -1;
  }
  struct vk_quiesce *q = vk_xcalloc(1, sizeof *q);
  q->fd = -1;
  q->marker = marker_path(dom);
  if (!q->marker || write_marker(q->marker, domname) < 0) {
    *why = vk_xasprintf("cannot write the freeze marker %s: %s",
                        q->marker ? q->marker : "(no UUID)", strerror(errno));
    q_free(q);
    return -1;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
    *why = vk_xasprintf("socketpair: %s", strerror(errno));
    unlink(q->marker);
    q_free(q);
    return -1;
  }
  pid_t pid = -1;
  int e = spawn_guard(uri, uuid, sv[1], &pid);
  close(sv[1]);
  if (e != 0) {
    *why = vk_xasprintf("cannot start the thaw guard: %s", strerror(e));
    close(sv[0]);
    unlink(q->marker);
    q_free(q);
    return -1;
  }
  q->guard = pid;
  q->fd = sv[0];
  int c = read_byte(q->fd, 30000);
  if (c != 'R') {
    *why = vk_xasprintf("the thaw guard could not reach libvirt (%s): not freezing without it",
                        c == 'E' ? "connection or domain look-up failed"
                        : c < 0 ? "no answer in 30 s" : "it ended");
    if (c < 0)
      kill(pid, SIGTERM);   /* it thaws nothing: nothing is frozen yet */
    end_guard(q, false);
    unlink(q->marker);
    q_free(q);
    return -1;
  }
  if (virDomainFSFreeze(dom, NULL, 0, 0) < 0) {
    *why = vk_xstrdup(vk_virt_last_message());
    *no_agent = true;
    end_guard(q, true);
    unlink(q->marker);
    q_free(q);
    return -1;
  }
  virDomainRef(dom);
  q->dom = dom;
  *qp = q;
  return 0;
}

int
vk_quiesce_thaw(struct vk_quiesce *q, char **why)
{
  if (virDomainFSThaw(q->dom, NULL, 0, 0) < 0) {
    *why = vk_xstrdup(vk_virt_last_message());
    /* The guard sees the end of file and tries once more. */
    end_guard(q, false);
    q_free(q);
    return -1;
  }
  int c = end_guard(q, true);
  unlink(q->marker);
  q_free(q);
  return c == 'K' ? 1 : 0;
}

int
vk_quiesce_around(virConnectPtr conn, virDomainPtr dom, bool quiesce, bool quiesce_try,
                  int (*begin)(void *opaque), void *opaque, bool *frozen, bool *thawed_early)
{
  *frozen = *thawed_early = false;
  /* The freeze lasts from here to just after BEGIN, which creates the
   * checkpoint at the backup's point in time; every path below thaws (a
   * signal is only noticed here: the thaw comes first).
   */
  struct vk_quiesce *q = NULL;
  if (quiesce) {
    CLEANUP_FREE char *why = NULL;
    bool no_agent = false;
    if (vk_quiesce_freeze(conn, dom, &q, &why, &no_agent) < 0) {
      if (!no_agent || !quiesce_try) {
        vk_error(VK_EXIT_FAILURE, "cannot freeze the guest's file systems (--quiesce needs the "
                 "guest agent): %s", why);
        return -1;
      }
      vk_warn("cannot freeze the guest's file systems (%s): --quiesce=try goes on with a "
              "crash-consistent backup", why);
    }
  }
  if (q)
    vk_test_hook("quiesce-frozen");
  int begun = -1;
  if (q && vk_stop_signal)
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d while the guest was frozen, before "
             "the backup started", (int)vk_stop_signal);
  else
    begun = begin(opaque);
  if (q) {
    CLEANUP_FREE char *why = NULL;
    int held = vk_quiesce_thaw(q, &why);
    if (held < 0)
      vk_warn("cannot thaw the guest's file systems: %s (the guard tries again; the next "
              "backup of the domain thaws them too)", why);
    else if (held == 0 && begun >= 0 && !quiesce_try)
      *thawed_early = true;
    else if (held == 0 && begun >= 0)
      vk_warn("the guest's file systems were thawed by the guard before the backup started "
              "(timeout): --quiesce=try goes on with a crash-consistent backup");
    *frozen = held == 1 && begun >= 0;
  }
  return begun < 0 ? -1 : 0;
}

int
vk_quiesce_recover(virDomainPtr dom, const struct vk_flow_cb *cb)
{
  CLEANUP_FREE char *marker = marker_path(dom);
  struct stat st;
  if (!marker || lstat(marker, &st) < 0)
    return 0;
  const char *domname = virDomainGetName(dom);
  if (vk_domain_is_active(dom)) {
    if (virDomainFSThaw(dom, NULL, 0, 0) < 0) {
      /* The backup itself is not at risk (a frozen guest is consistent):
       * say it loudly, keep the marker for the next run, go on.
       */
      vk_flow_message(cb, VK_MSG_WARNING, "an interrupted vckpt run may have left the file "
                      "systems of domain '%s' frozen (marker %s), and they cannot be thawed: "
                      "%s; check the guest (virsh domfsthaw), then remove the marker", domname,
                      marker, vk_virt_last_message());
      return 0;
    }
    vk_flow_message(cb, VK_MSG_WARNING, "thawed the file systems of domain '%s': an "
                    "interrupted vckpt run may have left them frozen (marker %s)", domname,
                    marker);
  }
  if (unlink(marker) < 0 && errno != ENOENT)
    vk_flow_message(cb, VK_MSG_WARNING, "cannot remove %s: %s", marker, strerror(errno));
  return 0;
}
