/* vckpt - the repository lock (flock(2), holder recorded in the file). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "fileio.h"
#include "lock.h"
#include "process.h"
#include "util.h"

#define LOCK_WAIT_MAX 3600     /* seconds a backup waits for verify runs */

/* What the lock file says about its holder. */
struct holder {
  long pid;
  long long since;
  char host[256];
  char command[256];
};

/* Parse "pid=N\nhost=H\nstart=T\ncommand=C\n"; false if incomplete. */
static bool
parse_holder(const char *text, struct holder *h)
{
  memset(h, 0, sizeof *h);
  bool got_cmd = false;
  for (const char *p = text; *p; ) {
    size_t len = strcspn(p, "\n");
    if (p[len] != '\n')
      break;   /* a line still being written */
    if (strncmp(p, "pid=", 4) == 0)
      h->pid = strtol(p + 4, NULL, 10);
    else if (strncmp(p, "start=", 6) == 0)
      h->since = strtoll(p + 6, NULL, 10);
    else if (strncmp(p, "host=", 5) == 0 && len - 5 < sizeof h->host)
      memcpy(h->host, p + 5, len - 5);
    else if (strncmp(p, "command=", 8) == 0 && len - 8 < sizeof h->command) {
      memcpy(h->command, p + 8, len - 8);
      got_cmd = true;
    }
    p += len + 1;
  }
  return h->pid > 0 && got_cmd;
}

/* Read the holder from the lock file FD. */
static bool
read_holder(int fd, struct holder *h)
{
  char buf[1024];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0)
    return false;
  buf[n] = '\0';
  return parse_holder(buf, h);
}

/* Describe holder H: "pid N on HOST since TIME (COMMAND)". */
static char *
describe_holder(const struct holder *h)
{
  char when[64];
  vk_format_time(h->since, when, sizeof when);
  return vk_xasprintf("pid %ld on %s since %s (%s)", h->pid,
                      h->host[0] ? h->host : "?", when, h->command);
}

/* Whether holder H ran on this host and is no longer running. */
static bool
holder_gone(const struct holder *h)
{
  char me[256] = "";
  gethostname(me, sizeof me - 1);
  return strcmp(h->host, me) == 0 && kill(h->pid, 0) < 0 && errno == ESRCH;
}

/* Wait for the exclusive lock on FD while only readers (verify, which
 * take it shared and never write a holder name) hold it; 1 when taken, 0
 * when a writer holds it, -1 on error or signal.
 */
static int
wait_for_readers(int fd, const char *path, const char *domain)
{
  for (long waited = 0; ; waited += 50) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
      return 1;
    if (errno != EWOULDBLOCK) {
      vk_error(VK_EXIT_FAILURE, "%s: cannot lock: %s", path, strerror(errno));
      return -1;
    }
    /* Readers only if a shared lock can be had right now. */
    if (flock(fd, LOCK_SH | LOCK_NB) < 0) {
      if (errno != EWOULDBLOCK) {
        vk_error(VK_EXIT_FAILURE, "%s: cannot lock: %s", path, strerror(errno));
        return -1;
      }
      return 0;
    }
    flock(fd, LOCK_UN);
    if (vk_stop_signal) {
      vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d while waiting for readers "
               "of the repository of domain '%s'", (int)vk_stop_signal, domain);
      return -1;
    }
    if (waited == 0)
      vk_debug("waiting for readers (vckpt verify) of the repository of domain '%s'", domain);
    if (waited >= LOCK_WAIT_MAX * 1000L) {
      vk_error(VK_EXIT_BUSY, "repository of domain '%s' is still in use by readers "
               "(vckpt verify) after %d s", domain, LOCK_WAIT_MAX);
      return -1;
    }
    usleep(50000);
  }
}

int
vk_lock_exclusive(int dirfd, const char *name, const char *path, const char *domain)
{
  CLEANUP_CLOSE int fd = openat(dirfd, name,
                                O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
  if (fd < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", path,
             errno == ELOOP ? "is a symbolic link, not a regular file" : strerror(errno));
    return -1;
  }
  if (vk_regular_fd(fd, path) < 0)
    return -1;
  struct holder h;
  if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    if (errno != EWOULDBLOCK) {
      vk_error(VK_EXIT_FAILURE, "%s: cannot lock: %s", path, strerror(errno));
      return -1;
    }
    /* The holder writes its name just after taking the lock; until then
     * the file is empty or names a killed former holder.  Readers never
     * write it.
     */
    bool known = false;
    for (int i = 0; i < 50; i++) {
      known = read_holder(fd, &h) && !holder_gone(&h);
      if (known)
        break;
      usleep(2000);
    }
    int got = known ? 0 : wait_for_readers(fd, path, domain);
    if (got < 0)
      return -1;
    if (got == 0) {
      if (read_holder(fd, &h) && !holder_gone(&h)) {
        CLEANUP_FREE char *who = describe_holder(&h);
        vk_error(VK_EXIT_BUSY, "repository of domain '%s' is locked by %s", domain, who);
      } else
        vk_error(VK_EXIT_BUSY, "repository of domain '%s' is locked by another process",
                 domain);
      return -1;
    }
  }

  /* A clean close empties the file: a name left in it is a killed run. */
  if (read_holder(fd, &h)) {
    bool gone = holder_gone(&h);
    CLEANUP_FREE char *who = describe_holder(&h);
    vk_warn("taking over the lock of the repository of domain '%s' left by %s%s",
            domain, who, gone ? ", which is no longer running" : "");
  }

  char host[256] = "";
  gethostname(host, sizeof host - 1);
  CLEANUP_FREE char *cmd = vk_printable(program_invocation_name);
  CLEANUP_FREE char *hostp = vk_printable(host);
  CLEANUP_FREE char *text = vk_xasprintf("pid=%ld\nhost=%s\nstart=%lld\ncommand=%.200s\n",
                                         (long)getpid(), hostp, (long long)time(NULL), cmd);
  size_t len = strlen(text);
  if (pwrite(fd, text, len, 0) != (ssize_t)len || ftruncate(fd, len) < 0)
    vk_warn("%s: cannot record the lock holder: %s", path, strerror(errno));
  int ret = fd;
  fd = -1;
  return ret;
}

/* A read-only repository where the lock file does not exist and cannot be
 * created needs no lock: no backup can write there either.
 */
/* Who holds the lock on FD, described, as soon as the holder has written
 * it (up to 100 ms), else "another process".
 */
static char *
holder_of(int fd)
{
  struct holder h;
  for (int i = 0; i < 50; i++) {
    if (read_holder(fd, &h))
      return describe_holder(&h);
    usleep(2000);
  }
  return vk_xstrdup("another process");
}

int
vk_lock_shared(int dirfd, const char *name, const char *path, const char *domain, int *out)
{
  *out = -1;
  int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK |
                O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
      fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && (errno == EROFS || errno == EACCES || errno == EPERM)) {
      vk_debug("%s: read-only repository, not locking", path);
      return 0;
    }
  }
  if (fd < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", path,
             errno == ELOOP ? "is a symbolic link, not a regular file" : strerror(errno));
    return -1;
  }
  *out = fd;
  if (vk_regular_fd(fd, path) < 0)
    return -1;
  if (flock(fd, LOCK_SH | LOCK_NB) == 0)
    return 0;
  if (errno != EWOULDBLOCK) {
    vk_error(VK_EXIT_FAILURE, "%s: cannot lock: %s", path, strerror(errno));
    return -1;
  }
  CLEANUP_FREE char *who = holder_of(fd);
  vk_error(VK_EXIT_BUSY, "repository of domain '%s' is locked by %s", domain, who);
  return -1;
}

int
vk_lock_shared_try(int dirfd, const char *name, const char *path, int *out, char **holder)
{
  *out = -1;
  *holder = NULL;
  int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0 && (errno == ENOENT || errno == EACCES))
    return 0;           /* no writer ever ran here, or none can */
  if (fd < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", path,
             errno == ELOOP ? "is a symbolic link, not a regular file" : strerror(errno));
    return -1;
  }
  *out = fd;
  if (vk_regular_fd(fd, path) < 0)
    return -1;
  if (flock(fd, LOCK_SH | LOCK_NB) == 0)
    return 0;
  if (errno != EWOULDBLOCK) {
    vk_error(VK_EXIT_FAILURE, "%s: cannot lock: %s", path, strerror(errno));
    return -1;
  }
  *holder = holder_of(fd);
  close(fd);
  *out = -1;
  return 1;
}

void
vk_lock_release(int fd, const char *path)
{
  if (fd < 0)
    return;
  if (ftruncate(fd, 0) < 0)
    vk_debug("%s: %s", path, strerror(errno));
  close(fd);
}
