/* vckpt - the repository's files, asked for by what a caller wants them
 * for (repo.h, "Files of the repository").  The one place besides repo.c
 * that turns a name in the repository into a path or a descriptor.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "fileio.h"
#include "repo.h"
#include "util.h"

const char *
vk_repo_where(const struct vk_repo *r)
{
  return vk_repo_dir(r);
}

char *
vk_repo_file_where(const struct vk_repo *r, const char *relative)
{
  return vk_repo_path(r, relative);
}

char *
vk_repo_target(const struct vk_repo *r, const char *relative)
{
  return relative ? vk_repo_path(r, relative) : vk_xstrdup(vk_repo_dir(r));
}

int
vk_repo_open_file(const struct vk_repo *r, const char *relative, struct stat *st)
{
  return vk_open_regular_quiet(vk_repo_dirfd(r), relative, VK_READ_NOFOLLOW, st);
}

int
vk_repo_read_file(const struct vk_repo *r, const char *relative, size_t max, unsigned flags,
                  char **out)
{
  CLEANUP_FREE char *path = vk_repo_path(r, relative);
  return vk_read_file_at(vk_repo_dirfd(r), relative, path, max, flags | VK_READ_NOFOLLOW, out);
}

bool
vk_repo_file_absent(const struct vk_repo *r, const char *relative)
{
  struct stat st;
  return fstatat(vk_repo_dirfd(r), relative, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT;
}

int
vk_repo_file_allocated(const struct vk_repo *r, const char *relative, uint64_t *bytes)
{
  struct stat st;
  if (fstatat(vk_repo_dirfd(r), relative, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return -1;
  *bytes = (uint64_t)st.st_blocks * 512;
  return 0;
}

int
vk_repo_create_fd(struct vk_repo *r, const char *relative)
{
  /* Neither the chain directory nor the file may be a link. */
  const char *slash = strchr(relative, '/');
  CLEANUP_FREE char *chain = slash ? vk_xasprintf("%.*s", (int)(slash - relative), relative)
                                   : NULL;
  int cfd = chain ? openat(vk_repo_dirfd(r), chain,
                           O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                  : vk_repo_dirfd(r);
  int fd = cfd < 0 ? -1 : openat(cfd, slash ? slash + 1 : relative,
                                 O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (chain && cfd >= 0) {
    int e = errno;
    close(cfd);
    errno = e;
  }
  if (fd < 0) {
    CLEANUP_FREE char *path = vk_repo_path(r, relative);
    vk_error(VK_EXIT_FAILURE, "cannot create %s: %s", path,
             errno == EEXIST ? "already exists: a file is never replaced" : strerror(errno));
  }
  return fd;
}

int
vk_repo_create_file(struct vk_repo *r, const char *relative, const void *buf, size_t len)
{
  CLEANUP_FREE char *path = vk_repo_path(r, relative);
  return vk_write_new(vk_repo_dirfd(r), relative, path, buf, len);
}

bool
vk_repo_is_in(const struct vk_repo *r, const char *repo_dir)
{
  struct stat sa, sb;
  return fstatat(vk_repo_dirfd(r), "..", &sa, 0) == 0 && stat(repo_dir, &sb) == 0 &&
         sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

DIR *
vk_repo_list(const struct vk_repo *r, const char *chain)
{
  int fd = openat(vk_repo_dirfd(r), chain ? chain : ".",
                  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  if (!d && fd >= 0) {
    int e = errno;
    close(fd);
    errno = e;
  }
  return d;
}

char **
vk_repo_names(const struct vk_repo *r, const char *repo_dir, const char *domain,
              enum vk_level level, const struct vk_backup *parent, char *const *targets,
              struct vk_backup **out)
{
  struct vk_backup *b = vk_xcalloc(1, sizeof *b);
  b->level = level;
  b->start = time(NULL);
  if (parent)
    b->chain = vk_xstrdup(parent->chain);
  b->nr_disks = vk_strv_len(targets);
  b->disks = vk_xcalloc(b->nr_disks, sizeof *b->disks);
  for (size_t i = 0; i < b->nr_disks; i++)
    b->disks[i].target = vk_xstrdup(targets[i]);
  vk_backup_name(b, 1, NULL, NULL);
  char **files = vk_xcalloc(b->nr_disks + 1, sizeof *files);
  for (size_t i = 0; i < b->nr_disks; i++)
    files[i] = r ? vk_repo_target(r, b->disks[i].file)
                 : vk_xasprintf("%s/%s/%s", repo_dir, domain, b->disks[i].file);
  *out = b;
  return files;
}

/* ---- side records ---- */

int
vk_record_open(const char *dir, const char *name, bool lock, struct vk_record *rec)
{
  rec->name = name;
  rec->path = vk_xasprintf("%s/%s", dir, name);
  rec->dir = vk_xstrdup(dir);
  rec->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (rec->dirfd < 0 || (lock && vk_record_lock(rec) < 0)) {
    int e = errno;
    vk_record_close(rec);
    errno = e;
    return -1;
  }
  return 0;
}

int
vk_record_open_domain(const char *repo_dir, const char *domain, const char *name, bool lock,
                      struct vk_record *rec)
{
  *rec = (struct vk_record) { .name = name, .dirfd = -1 };
  if (!*domain || domain[0] == '.' || strchr(domain, '/')) {
    errno = EINVAL;
    return -1;
  }
  /* Asked first, quietly: a repository that is missing or not to be
   * trusted is no error of this caller's (whoever opened it said so).
   */
  if (!vk_dir_is_trusted(repo_dir)) {
    errno = ENOENT;
    return -1;
  }
  CLEANUP_FREE char *abs = NULL;
  CLEANUP_CLOSE int repofd = vk_dir_open_trusted(repo_dir, "repository", false, &abs);
  if (repofd < 0) {
    errno = ENOENT;
    return -1;
  }
  rec->dir = vk_xasprintf("%s/%s", strcmp(abs, "/") == 0 ? "" : abs, domain);
  rec->path = vk_xasprintf("%s/%s", rec->dir, name);
  rec->dirfd = openat(repofd, domain, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  const char *why;
  int e = rec->dirfd < 0 ? errno : fstat(rec->dirfd, &st) < 0 ? errno
        : !vk_dir_trusted(&st, false, &why) ? EPERM : 0;
  if (e || (lock && vk_record_lock(rec) < 0)) {
    e = e ? e : errno;
    vk_record_close(rec);
    errno = e;
    return -1;
  }
  return 0;
}

int
vk_repo_record_open(const struct vk_repo *r, const char *name, bool lock, struct vk_record *rec)
{
  return vk_record_open(vk_repo_dir(r), name, lock, rec);
}

int
vk_record_lock(const struct vk_record *rec)
{
  return flock(rec->dirfd, LOCK_EX);
}

bool
vk_record_writable(const struct vk_record *rec)
{
  return faccessat(rec->dirfd, ".", W_OK, AT_EACCESS) == 0;
}

int
vk_record_open_quiet(const struct vk_record *rec, struct stat *st)
{
  return vk_open_regular_quiet(rec->dirfd, rec->name, VK_READ_NOFOLLOW, st);
}

int
vk_record_read(const struct vk_record *rec, size_t max, unsigned flags, char **text)
{
  return vk_read_file_at(rec->dirfd, rec->name, rec->path, max, flags | VK_READ_NOFOLLOW, text);
}

int
vk_record_write(const struct vk_record *rec, const char *text)
{
  return vk_write_atomic(rec->dirfd, rec->name, rec->path, text, true);
}

int
vk_record_remove(const struct vk_record *rec)
{
  if (unlinkat(rec->dirfd, rec->name, 0) < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", rec->path, strerror(errno));
    return -1;
  }
  vk_sync_fd(rec->dirfd, rec->dir);
  return 0;
}

void
vk_record_close(struct vk_record *rec)
{
  if (rec->dirfd >= 0)
    close(rec->dirfd);      /* releases the flock */
  rec->dirfd = -1;
  free(rec->path);
  free(rec->dir);
  rec->path = rec->dir = NULL;
}
