/* vckpt - file utilities: the one reader of regular files, the one
 * crash-safe writer.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "util.h"

int
vk_open_regular_quiet(int dirfd, const char *relative, unsigned flags, struct stat *st)
{
  /* O_NONBLOCK: a FIFO or a terminal never blocks the open; everything
   * that is not a regular file is refused before the first read.
   */
  memset(st, 0, sizeof *st);
  int fd = openat(dirfd, relative, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
                  (flags & VK_READ_NOFOLLOW ? O_NOFOLLOW : 0));
  if (fd < 0)
    return -1;
  int fl;
  if (fstat(fd, st) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  if (!S_ISREG(st->st_mode)) {
    close(fd);
    errno = EINVAL;
    return -1;
  }
  if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

const char *
vk_open_error(int err, const struct stat *st)
{
  if (err == EINVAL) {
    static __thread char buf[64];
    snprintf(buf, sizeof buf, "not a regular file (%s)", vk_file_type_name(st->st_mode));
    return buf;
  }
  return err == ELOOP ? "a symbolic link, not a regular file" : strerror(err);
}

int
vk_open_regular(int dirfd, const char *relative, const char *path, unsigned flags)
{
  struct stat st;
  int fd = vk_open_regular_quiet(dirfd, relative, flags, &st);
  if (fd < 0)
    vk_error(errno == ENOENT ? VK_EXIT_NOT_FOUND : VK_EXIT_FAILURE, "%s: %s", path,
             vk_open_error(errno, &st));
  return fd;
}

int
vk_regular_fd(int fd, const char *path)
{
  struct stat st;
  if (fstat(fd, &st) < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", path, strerror(errno));
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    vk_error(VK_EXIT_FAILURE, "%s: not a regular file (%s)", path,
             vk_file_type_name(st.st_mode));
    return -1;
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: fcntl: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

int
vk_read_file_at(int dirfd, const char *relative, const char *path, size_t max,
                unsigned flags, char **out)
{
  *out = NULL;
  struct stat st;
  CLEANUP_CLOSE int fd = vk_open_regular_quiet(dirfd, relative, flags, &st);
  if (fd < 0) {
    if (errno == ENOENT && (flags & VK_READ_MISSING_OK))
      return 0;
    vk_error(errno == ENOENT ? VK_EXIT_NOT_FOUND : VK_EXIT_FAILURE, "%s: %s", path,
             vk_open_error(errno, &st));
    return -1;
  }
  if ((unsigned long long)st.st_size > max) {
    vk_error(VK_EXIT_FAILURE, "%s: file is larger than %zu bytes", path, max);
    return -1;
  }
  size_t len = 0, cap = 4096;
  CLEANUP_FREE char *buf = vk_xmalloc(cap + 1);
  for (;;) {
    if (len == cap) {
      if (cap >= max) {
        vk_error(VK_EXIT_FAILURE, "%s: file is larger than %zu bytes", path, max);
        return -1;
      }
      cap = cap * 2 > max ? max : cap * 2;
      buf = vk_xrealloc(buf, cap + 1);
    }
    ssize_t n = read(fd, buf + len, cap - len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      vk_error(VK_EXIT_FAILURE, "%s: read: %s", path, strerror(errno));
      return -1;
    }
    if (n == 0)
      break;
    len += n;
  }
  buf[len] = '\0';
  if (len == 0 && (flags & VK_READ_NONEMPTY)) {
    vk_error(VK_EXIT_FAILURE, "%s is empty", path);
    return -1;
  }
  if (strlen(buf) != len) {
    vk_error(VK_EXIT_FAILURE, "%s: file contains NUL bytes", path);
    return -1;
  }
  *out = buf;
  buf = NULL;
  return 0;
}

int
vk_read_file_flags(const char *path, size_t max, unsigned flags, char **out)
{
  return vk_read_file_at(AT_FDCWD, path, path, max, flags, out);
}

int
vk_read_file(const char *path, size_t max, char **out)
{
  return vk_read_file_flags(path, max, 0, out);
}

void
vk_writeback_open(struct vk_writeback *wb, const char *const *paths, size_t n)
{
  wb->fds = vk_xcalloc(n ? n : 1, sizeof *wb->fds);
  wb->n = n;
  wb->last = 0;
  for (size_t i = 0; i < n; i++)
    wb->fds[i] = open(paths[i], O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
}

void
vk_writeback_kick(struct vk_writeback *wb)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  double t = ts.tv_sec + ts.tv_nsec / 1e9;
  if (t - wb->last < 0.04)   /* kicked every 50 ms: no tick is lost to jitter */
    return;
  wb->last = t;
  for (size_t i = 0; i < wb->n; i++)
    if (wb->fds[i] >= 0)
      sync_file_range(wb->fds[i], 0, 0, SYNC_FILE_RANGE_WRITE);
}

void
vk_writeback_close(struct vk_writeback *wb)
{
  for (size_t i = 0; i < wb->n; i++)
    if (wb->fds[i] >= 0)
      close(wb->fds[i]);
  free(wb->fds);
  memset(wb, 0, sizeof *wb);
}

bool
vk_image_held(const char *path)
{
  struct stat st;
  int fd = vk_open_regular_quiet(AT_FDCWD, path, 0, &st);
  if (fd < 0)
    return false;
  struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 100, .l_len = 200 };
  bool held = fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
  close(fd);
  return held;
}

bool
vk_same_file(const char *a, const char *b)
{
  struct stat sa, sb;
  return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

bool
vk_same_image(const char *a, const char *b)
{
  return a && b && (strcmp(a, b) == 0 || vk_same_file(a, b));
}

int
vk_sync_fd(int fd, const char *what)
{
  if (fsync(fd) < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: fsync: %s", what, strerror(errno));
    return -1;
  }
  return 0;
}

int
vk_write_all(int fd, const void *buf, size_t len, const char *what)
{
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      vk_error(VK_EXIT_FAILURE, "%s: write: %s", what, strerror(errno));
      return -1;
    }
    p += n;
    len -= n;
  }
  return 0;
}

/* Move TMP to BASE in directory DFD without replacing an existing BASE. */
static int
rename_noreplace(int dfd, const char *tmp, const char *base)
{
  if (renameat2(dfd, tmp, dfd, base, RENAME_NOREPLACE) == 0)
    return 0;
  if (errno != EINVAL && errno != ENOSYS)
    return -1;
  /* File systems without RENAME_NOREPLACE: link() fails on an existing name. */
  if (linkat(dfd, tmp, dfd, base, 0) < 0)
    return -1;
  unlinkat(dfd, tmp, 0);
  return 0;
}

int
vk_write_atomic(int dirfd, const char *relative, const char *path, const char *content,
                bool replace)
{
  return vk_write_atomic_mode(dirfd, relative, path, content, replace, 0600);
}

int
vk_write_atomic_mode(int dirfd, const char *relative, const char *path, const char *content,
                     bool replace, mode_t mode)
{
  static unsigned counter;
  /* The directory holding RELATIVE: DIRFD itself, or one below it. */
  const char *slash = strrchr(relative, '/');
  const char *base = slash ? slash + 1 : relative;
  CLEANUP_FREE char *sub = slash ? strndup(relative, slash - relative) : vk_xstrdup(".");
  if (!sub)
    abort();
  CLEANUP_CLOSE int dfd = openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) {
    size_t plen = strlen(path), blen = strlen(base);
    int dlen = plen > blen ? (int)(plen - blen - 1) : (int)plen;
    vk_error(errno == ENOENT ? VK_EXIT_NOT_FOUND : VK_EXIT_FAILURE,
             "%.*s: %s", dlen, path, strerror(errno));
    return -1;
  }

  CLEANUP_FREE char *tmp = NULL;
  int fd = -1;
  for (int tries = 0; fd < 0; tries++) {
    free(tmp);
    /* Not ending like the target: a reader of every "*.prom" (node_exporter)
     * must not read a file still being written, or left by a crash.
     */
    tmp = vk_xasprintf(VK_TMP_PREFIX "%ld.%u.%s.new", (long)getpid(), counter++, base);
    fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && (errno != EEXIST || tries > 100)) {
      vk_error(VK_EXIT_FAILURE, "%s: cannot create a temporary file: %s", path, strerror(errno));
      return -1;
    }
  }
  int rc = 0;
  /* The umask may have taken bits MODE asks for (0600 has none it takes). */
  if (mode != 0600 && fchmod(fd, mode) < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: chmod: %s", path, strerror(errno));
    rc = -1;
  }
  if (rc == 0)
    rc = vk_write_all(fd, content, strlen(content), path);
  if (rc == 0)
    rc = vk_sync_fd(fd, path);
  if (close(fd) < 0 && rc == 0) {
    vk_error(VK_EXIT_FAILURE, "%s: close: %s", path, strerror(errno));
    rc = -1;
  }
  if (rc == 0) {
    if (replace ? renameat(dfd, tmp, dfd, base) : rename_noreplace(dfd, tmp, base)) {
      vk_error(VK_EXIT_FAILURE, "%s: %s", path,
               errno == EEXIST ? "file exists, not replacing it" : strerror(errno));
      rc = -1;
    }
  }
  if (rc < 0) {
    unlinkat(dfd, tmp, 0);
    return -1;
  }
  /* The new file is in place: from here on it is what readers see, so a
   * failed fsync of the directory must not make the caller undo what
   * depends on it (a committed manifest).  Said, not failed.
   */
  if (fsync(dfd) < 0)
    vk_warn("%s: fsync of its directory: %s (the file is written; a crash now could "
            "still lose it)", path, strerror(errno));
  return 0;
}

void
vk_sweep_temps(int dirfd_, const char *dir, const char *sub)
{
  int fd = openat(dirfd_, *sub ? sub : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return;
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return;
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, VK_TMP_PREFIX, strlen(VK_TMP_PREFIX)) != 0)
      continue;
    vk_debug("removing %s/%s%s%s left by an interrupted run", dir, sub, *sub ? "/" : "",
             e->d_name);
    if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT)
      vk_warn("cannot remove %s/%s%s%s: %s", dir, sub, *sub ? "/" : "", e->d_name,
              strerror(errno));
  }
  closedir(d);
}

int
vk_fd_pread(void *opaque, void *buf, size_t count, uint64_t offset)
{
  int fd = *(int *)opaque;
  while (count > 0) {
    ssize_t n = pread(fd, buf, count, offset);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      if (n == 0)
        errno = EIO;
      return -1;
    }
    buf = (char *)buf + n;
    count -= n;
    offset += n;
  }
  return 0;
}

int
vk_pwrite_all(int fd, const void *buf, size_t len, uint64_t offset)
{
  while (len > 0) {
    ssize_t n = pwrite(fd, buf, len, (off_t)offset);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      if (n == 0)
        errno = EIO;
      return -1;
    }
    buf = (const char *)buf + n;
    len -= n;
    offset += n;
  }
  return 0;
}

int
vk_write_new(int dirfd, const char *relative, const char *path, const void *buf, size_t len)
{
  int fd = openat(dirfd, relative, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", path,
             errno == EEXIST ? "already exists: a file is never replaced" : strerror(errno));
    return -1;
  }
  if (fchmod(fd, 0600) < 0 || vk_write_all(fd, buf, len, path) < 0 ||
      vk_sync_fd(fd, path) < 0) {
    if (!vk_error_reported())
      vk_error(VK_EXIT_FAILURE, "%s: %s", path, strerror(errno));
    close(fd);
    unlinkat(dirfd, relative, 0);
    return -1;
  }
  close(fd);
  return 0;
}
