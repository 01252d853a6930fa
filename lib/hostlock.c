/* vckpt - the host-wide lock of a domain: one backup of a domain at a
 * time on this host, whatever the repository.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "hostlock.h"
#include "util.h"

#define VK_LOCK_DIR "/run/vckpt"

/* The directory of the host-wide locks: $VCKPT_LOCK_DIR (for tests), else
 * /run/vckpt.
 */
const char *
vk_run_dir(void)
{
  const char *env = getenv("VCKPT_LOCK_DIR");
  return env && *env ? env : VK_LOCK_DIR;
}

/* Read "pid=N\nstart=T\nrepo=R\n" from lock file FD into a description;
 * NULL while the holder has not written it yet.
 */
static char *
lock_holder(int fd)
{
  char buf[4200];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0)
    return NULL;
  buf[n] = '\0';
  long pid = 0;
  long long start = 0;
  const char *repo = NULL;
  for (char *p = buf, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
    *nl = '\0';
    if (strncmp(p, "pid=", 4) == 0)
      pid = strtol(p + 4, NULL, 10);
    else if (strncmp(p, "start=", 6) == 0)
      start = strtoll(p + 6, NULL, 10);
    else if (strncmp(p, "repo=", 5) == 0)
      repo = p + 5;
  }
  if (pid <= 0 || !repo)
    return NULL;
  char when[64];
  vk_format_time(start, when, sizeof when);
  CLEANUP_FREE char *r = vk_printable(repo);
  return vk_xasprintf("pid %ld (a backup into %s, since %s)", pid, r, when);
}

/* Take the host-wide lock of the domain (keyed by its UUID): one backup of
 * a domain at a time on this host, whatever the repository.  Returns the
 * locked file descriptor, or -1 after reporting (busy: VK_EXIT_BUSY naming
 * the holder).
 */
int
vk_host_lock(const char *domname, const char *uuid, const char *repo_dir)
{
  const char *dir = vk_run_dir();
  /* Private, and reached through directories only root can change. */
  struct stat st;
  int dfd = vk_dir_open_private(dir, "lock directory", 0700);
  if (dfd < 0)
    return -1;
  CLEANUP_FREE char *file = vk_xasprintf("%s.lock", uuid);
  CLEANUP_FREE char *path = vk_xasprintf("%s/%s", dir, file);
  int fd = openat(dfd, file, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
  close(dfd);
  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", path, fd < 0 ? strerror(errno) : "not a regular file");
    if (fd >= 0)
      close(fd);
    return -1;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    if (errno != EWOULDBLOCK) {
      vk_error(VK_EXIT_FAILURE, "%s: cannot lock: %s", path, strerror(errno));
      close(fd);
      return -1;
    }
    /* The holder writes its name just after taking the lock. */
    char *who = NULL;
    for (int i = 0; i < 50 && !(who = lock_holder(fd)); i++)
      usleep(2000);
    vk_error(VK_EXIT_BUSY, "domain '%s' is locked by %s: one backup of a domain at a time "
             "(lock %s)", domname, who ? who : "another process", path);
    free(who);
    close(fd);
    return -1;
  }
  CLEANUP_FREE char *abs = realpath(repo_dir, NULL);
  CLEANUP_FREE char *text = vk_xasprintf("pid=%ld\nstart=%lld\nrepo=%.4000s\n", (long)getpid(),
                                         (long long)time(NULL), abs ? abs : repo_dir);
  size_t len = strlen(text);
  if (ftruncate(fd, 0) < 0 || pwrite(fd, text, len, 0) != (ssize_t)len)
    vk_warn("%s: cannot record the lock holder: %s", path, strerror(errno));
  return fd;
}

/* Release the host-wide lock: empty the file while still holding it. */
void
vk_host_unlock(int fd)
{
  if (fd < 0)
    return;
  if (ftruncate(fd, 0) < 0)
    vk_debug("cannot empty the host lock: %s", strerror(errno));
  close(fd);
}

