/* vckpt - who may reach what (access.h). */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "access.h"
#include "cleanup.h"
#include "util.h"

/* Report an error unless the walk is quiet (errno is kept). */
#define REPORT(...) \
  do { int e_ = errno; if (!quiet) vk_error(__VA_ARGS__); errno = e_; } while (0)

/* Links followed on one path at most (the kernel's own limit). */
#define MAX_LINKS 40

bool
vk_dir_trusted(const struct stat *st, bool sticky_ok, const char **why)
{
  if (st->st_uid != 0 && st->st_uid != geteuid()) {
    *why = "owned by another user";
    return false;
  }
  bool others_write = (st->st_mode & S_IWOTH) || ((st->st_mode & S_IWGRP) && st->st_gid != 0);
  if (others_write && !(sticky_ok && st->st_uid == 0 && (st->st_mode & S_ISVTX))) {
    *why = "writable by other users";
    return false;
  }
  return true;
}

/* Report directory ABS as untrusted for WHAT. */
static void
untrusted(const char *what, const char *path, const char *abs, const struct stat *st,
          const char *why)
{
  vk_error(VK_EXIT_USAGE,
           "%s %s: %s is %s (owner uid %u, mode %04o): that user could replace what vckpt "
           "puts there; use a directory only root can change",
           what, path, *abs ? abs : "/", why, (unsigned)st->st_uid,
           (unsigned)(st->st_mode & 07777));
}

/* Append component NAME to the path in *ABS. */
static void
push_name(char **abs, const char *name, size_t len)
{
  char *next = vk_xasprintf("%s/%.*s", *abs, (int)len, name);
  free(*abs);
  *abs = next;
}

/* vk_dir_open_trusted; QUIET: errno set and nothing reported. */
static int
walk(const char *path, const char *what, bool create, char **abs_out, bool quiet,
     bool sticky_last);

int
vk_dir_open_trusted(const char *path, const char *what, bool create, char **abs_out)
{
  return walk(path, what, create, abs_out, false, false);
}

int
vk_dir_open_trusted_base(const char *path, const char *what, char **abs_out)
{
  return walk(path, what, false, abs_out, false, true);
}

bool
vk_dir_is_trusted(const char *path)
{
  int fd = walk(path, "", false, NULL, true, true);
  if (fd < 0)
    return false;
  close(fd);
  return true;
}

int
vk_dir_open_private(const char *path, const char *what, mode_t mode)
{
  CLEANUP_FREE char *parent = vk_xstrdup(path);
  size_t len = strlen(parent);
  while (len > 1 && parent[len - 1] == '/')
    parent[--len] = '\0';            /* "/run/vckpt/" */
  CLEANUP_FREE char *base = NULL;
  char *slash = strrchr(parent, '/');
  if (slash) {
    base = vk_xstrdup(slash + 1);
    slash[slash == parent ? 1 : 0] = '\0';
  } else {
    base = parent;
    parent = vk_xstrdup(".");
  }
  if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
    vk_error(VK_EXIT_USAGE, "%s %s: not a directory vckpt can make", what, path);
    return -1;
  }
  CLEANUP_CLOSE int pfd = vk_dir_open_trusted_base(parent, what, NULL);
  if (pfd < 0)
    return -1;
  if (mkdirat(pfd, base, mode) < 0 && errno != EEXIST) {
    vk_error(VK_EXIT_FAILURE, "cannot create %s %s: %s", what, path, strerror(errno));
    return -1;
  }
  int fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) {
    vk_error(VK_EXIT_FAILURE, "%s %s: %s", what, path,
             errno == ELOOP || errno == ENOTDIR ? "not a directory" : strerror(errno));
    if (fd >= 0)
      close(fd);
    return -1;
  }
  if (st.st_uid != geteuid() || (st.st_mode & 022)) {
    vk_error(VK_EXIT_FAILURE, "%s %s: not a private directory (owner %ld, mode %04o): "
             "refusing to use it", what, path, (long)st.st_uid, (unsigned)(st.st_mode & 07777));
    close(fd);
    return -1;
  }
  return fd;
}

static int
walk(const char *path, const char *what, bool create, char **abs_out, bool quiet,
     bool sticky_last)
{
  CLEANUP_FREE char *rest = NULL;
  if (path[0] == '/')
    rest = vk_xstrdup(path);
  else {
    CLEANUP_FREE char *cwd = getcwd(NULL, 0);
    if (!cwd) {
      REPORT(VK_EXIT_FAILURE, "%s %s: getcwd: %s", what, path, strerror(errno));
      return -1;
    }
    rest = vk_xasprintf("%s/%s", cwd, path);
  }
  CLEANUP_FREE char *abs = vk_xstrdup("");
  CLEANUP_CLOSE int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct stat st;
  const char *why;
  if (fd < 0 || fstat(fd, &st) < 0) {
    REPORT(VK_EXIT_FAILURE, "%s %s: /: %s", what, path, strerror(errno));
    return -1;
  }
  if (!vk_dir_trusted(&st, true, &why)) {
    if (!quiet)
      untrusted(what, path, "/", &st, why);
    errno = EPERM;
    return -1;
  }

  int links = 0;
  size_t pos = 0;
  for (;;) {
    while (rest[pos] == '/')
      pos++;
    if (!rest[pos])
      break;
    const char *name = rest + pos;
    size_t len = strcspn(name, "/");
    pos += len;
    bool last = rest[pos + strspn(rest + pos, "/")] == '\0';
    if (len == 1 && name[0] == '.')
      continue;
    CLEANUP_FREE char *comp = vk_xasprintf("%.*s", (int)len, name);
    if (strcmp(comp, "..") == 0) {
      int up = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (up < 0) {
        REPORT(VK_EXIT_FAILURE, "%s %s: %s/..: %s", what, path, abs, strerror(errno));
        return -1;
      }
      close(fd);
      fd = up;
      char *slash = strrchr(abs, '/');
      if (slash)
        *slash = '\0';
      continue;
    }

    if (fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno == ENOENT && last && create) {
        if (mkdirat(fd, comp, VK_DIR_MODE) < 0 && errno != EEXIST) {
          REPORT(VK_EXIT_FAILURE, "cannot create %s %s/%s: %s", what, abs, comp,
                   strerror(errno));
          return -1;
        }
        if (fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
            st.st_uid == geteuid() && (st.st_mode & 07777) != VK_DIR_MODE)
          (void)fchmodat(fd, comp, VK_DIR_MODE, 0);   /* the umask's doing */
        pos -= len;     /* look at it again, as made */
        continue;
      }
      REPORT(errno == ENOENT ? VK_EXIT_NOT_FOUND : VK_EXIT_FAILURE, "%s %s: %s/%s: %s",
               what, path, abs, comp, strerror(errno));
      return -1;
    }
    if (S_ISLNK(st.st_mode)) {
      /* Only a link root (or vckpt's user) owns: another user's, even in a
       * directory they cannot otherwise change (/tmp), could be pointed
       * elsewhere between vckpt's calls.
       */
      if (st.st_uid != 0 && st.st_uid != geteuid()) {
        REPORT(VK_EXIT_USAGE, "%s %s: %s/%s is a link owned by another user (uid %u): "
               "refusing to follow it", what, path, abs, comp, (unsigned)st.st_uid);
        errno = EPERM;
        return -1;
      }
      char target[PATH_MAX];
      ssize_t n = readlinkat(fd, comp, target, sizeof target - 1);
      if (n < 0 || ++links > MAX_LINKS) {
        REPORT(VK_EXIT_FAILURE, "%s %s: %s/%s: %s", what, path, abs, comp,
                 n < 0 ? strerror(errno) : strerror(ELOOP));
        return -1;
      }
      target[n] = '\0';
      char *next = vk_xasprintf("%s/%s", target, rest + pos);
      free(rest);
      rest = next;
      pos = 0;
      if (target[0] == '/') {
        int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root < 0) {
          REPORT(VK_EXIT_FAILURE, "%s %s: /: %s", what, path, strerror(errno));
          return -1;
        }
        close(fd);
        fd = root;
        abs[0] = '\0';
      }
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      REPORT(VK_EXIT_USAGE, "%s %s: %s/%s: not a directory", what, path, abs, comp);
      return -1;
    }
    int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0 || fstat(next, &st) < 0) {
      REPORT(VK_EXIT_FAILURE, "%s %s: %s/%s: %s", what, path, abs, comp,
               errno == ELOOP ? "replaced by a link meanwhile" : strerror(errno));
      if (next >= 0)
        close(next);
      return -1;
    }
    close(fd);
    fd = next;
    push_name(&abs, name, len);
    /* Group write through an ACL (a named user's entry shows as the mask
     * in the group bits): refused whatever the owning group.
     */
    if ((st.st_mode & S_IWGRP) && fgetxattr(fd, "system.posix_acl_access", NULL, 0) > 0) {
      st.st_gid = (gid_t)-1;
    }
    /* A sticky directory such as /tmp is fine on the way, not as the place
     * itself (unless the caller makes a private directory in it).
     */
    if (!vk_dir_trusted(&st, !last || sticky_last, &why)) {
      if (!quiet)
        untrusted(what, path, abs, &st, why);
      errno = EPERM;
      return -1;
    }
  }
  if (abs_out) {
    *abs_out = *abs ? abs : vk_xstrdup("/");
    if (*abs)
      abs = NULL;
  }
  int r = fd;
  fd = -1;
  return r;
}

/* Whether GID is among the groups of user UID (primary or supplementary). */
static bool
in_groups(uid_t uid, gid_t primary, gid_t gid)
{
  if (gid == primary)
    return true;
  struct passwd pw, *res = NULL;
  char buf[4096];
  if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) != 0 || !res)
    return false;
  gid_t groups[256];
  int n = 256;
  if (getgrouplist(pw.pw_name, primary, groups, &n) < 0)
    return false;
  for (int i = 0; i < n; i++)
    if (groups[i] == gid)
      return true;
  return false;
}

bool
vk_qemu_may_search(const struct vk_qemu_user *qu, const struct stat *st)
{
  if (!qu->known || qu->uid == 0)
    return true;
  if (st->st_uid == qu->uid)
    return st->st_mode & S_IXUSR;
  if (in_groups(qu->uid, qu->gid, st->st_gid))
    return st->st_mode & S_IXGRP;
  return st->st_mode & S_IXOTH;
}

char *
vk_qemu_blocker(const struct vk_qemu_user *qu, const char *dir, mode_t *mode, uid_t *uid)
{
  if (!qu->known || qu->uid == 0)
    return NULL;
  CLEANUP_FREE char *abs = realpath(dir, NULL);
  if (!abs)
    return NULL;        /* whoever uses it reports that */
  for (char *p = abs;; ) {
    char *slash = strchr(p + 1, '/');
    if (slash)
      *slash = '\0';
    struct stat st;
    const char *d = *abs ? abs : "/";
    if (stat(d, &st) == 0 && S_ISDIR(st.st_mode) && !vk_qemu_may_search(qu, &st)) {
      *mode = st.st_mode & 07777;
      *uid = st.st_uid;
      return vk_xstrdup(d);
    }
    if (!slash)
      return NULL;
    *slash = '/';
    p = slash;
  }
}

int
vk_give_back_fd(int fd)
{
  struct stat st;
  if (fstat(fd, &st) < 0)
    return -1;
  int changed = 0;
  /* The mode first: never root's with a mode QEMU's user chose. */
  if ((st.st_mode & 07777) != 0600) {
    if (fchmod(fd, 0600) < 0)
      return -1;
    changed = 1;
  }
  if (st.st_uid != geteuid() || st.st_gid != getegid()) {
    if (fchown(fd, geteuid(), getegid()) < 0)
      return -1;
    changed = 1;
  }
  return changed;
}

int
vk_qemu_check_reach(const struct vk_qemu_user *qu, const char *dir, const char *what)
{
  mode_t mode;
  uid_t owner;
  CLEANUP_FREE char *blocker = vk_qemu_blocker(qu, dir, &mode, &owner);
  if (!blocker)
    return 0;
  vk_error(VK_EXIT_PREFLIGHT,
           "%s %s: QEMU runs as uid %u and cannot reach it: it cannot search %s "
           "(owner uid %u, mode %04o); make it searchable (chmod o+x %s, or give it "
           "QEMU's group %u and g+x)", what, dir, (unsigned)qu->uid, blocker,
           (unsigned)owner, (unsigned)mode, blocker, (unsigned)qu->gid);
  return -1;
}

/* ---- private temporary directories ---- */

/* Remove the regular files in DIRFD (PATH in messages; anything else is
 * left and warned about): 0 if it is empty now.
 */
static int
empty_dir_depth(int dirfd, const char *path, int depth)
{
  int fd = dup(dirfd);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  struct dirent *e;
  int r = 0;
  if (!d) {
    if (fd >= 0)
      close(fd);
    vk_warn("cannot read %s: %s", path, strerror(errno));
    return -1;
  }
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
        unlinkat(dirfd, e->d_name, 0) == 0)
      continue;
    /* A subdirectory (a pull backup's socket directory, a copied tree):
     * emptied and removed, opened without following a link.
     */
    int sub = errno == EISDIR && depth > 0
              ? openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
    if (sub >= 0) {
      CLEANUP_FREE char *subpath = vk_xasprintf("%s/%s", path, e->d_name);
      int er = empty_dir_depth(sub, subpath, depth - 1);
      close(sub);
      if (er == 0 && unlinkat(dirfd, e->d_name, AT_REMOVEDIR) == 0)
        continue;
    }
    vk_warn("cannot remove %s/%s: %s", path, e->d_name, strerror(errno));
    r = -1;
  }
  closedir(d);
  return r;
}

/* How deep empty_dir goes: a copy of a guest's tree (files get, at most
 * 200 deep) is removed whole.
 */
#define EMPTY_DIR_DEPTH 256

static int
empty_dir(int dirfd, const char *path)
{
  return empty_dir_depth(dirfd, path, EMPTY_DIR_DEPTH);
}

/* Remove the directories killed runs left: each run holds an flock on its
 * directory while it (or its child) runs, so a directory of ours (our uid,
 * no more than MODE) whose lock is free belongs to no one any more.  One
 * that is in use is left alone.
 */
static void
sweep(int basefd, const char *base, const char *prefix, mode_t mode, const char *who)
{
  int fd = dup(basefd);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  struct dirent *e;
  if (!d) {
    if (fd >= 0)
      close(fd);
    return;
  }
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
      continue;
    int dfd = openat(basefd, e->d_name,
                     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (dfd < 0)
      continue;
    if (fstat(dfd, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
        (st.st_mode & 0777 & ~mode) == 0 && flock(dfd, LOCK_EX | LOCK_NB) == 0) {
      CLEANUP_FREE char *path = vk_xasprintf("%s/%s", base, e->d_name);
      if (empty_dir(dfd, path) == 0 && unlinkat(basefd, e->d_name, AT_REMOVEDIR) == 0)
        vk_warn("removed %s, which a killed %s left", path, who);
      else if (errno != ENOENT)
        vk_warn("cannot remove %s, which a killed %s left: %s", path, who, strerror(errno));
    }
    close(dfd);
  }
  closedir(d);
}

void
vk_private_tmp_sweep(int basefd, const char *base, const char *prefix, mode_t mode,
                     const char *who)
{
  sweep(basefd, base, prefix, mode, who);
}

int
vk_private_tmp_make(struct vk_private_tmp *t, int basefd, const char *base,
                    const char *prefix, mode_t mode, const char *who)
{
  t->basefd = basefd;
  t->base = base;
  t->name = NULL;
  t->fd = -1;
  sweep(basefd, base, prefix, mode, who);

  const char *made_as = prefix[0] == '.' ? ".vckpt-new-" : "vckpt-new-";
  CLEANUP_FREE char *tmpl = vk_xasprintf("%s/%sXXXXXX", base, made_as);
  if (!mkdtemp(tmpl)) {
    vk_error(VK_EXIT_FAILURE, "cannot create a temporary directory in %s: %s", base,
             strerror(errno));
    return -1;
  }
  const char *made = strrchr(tmpl, '/') + 1;
  t->name = vk_xasprintf("%s%s", prefix, made + strlen(made_as));
  t->fd = openat(basefd, made, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  bool ours = t->fd >= 0 && flock(t->fd, LOCK_EX | LOCK_NB) == 0 && fstat(t->fd, &st) == 0 &&
              st.st_uid == geteuid() && (st.st_mode & 0077) == 0 &&
              fchmod(t->fd, mode) == 0;
  if (!ours || renameat2(basefd, made, basefd, t->name, RENAME_NOREPLACE) < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", tmpl,
             t->fd < 0 || ours ? strerror(errno) : "not the private directory just created");
    if (ours)
      unlinkat(basefd, made, AT_REMOVEDIR);
    if (t->fd >= 0)
      close(t->fd);
    t->fd = -1;
    free(t->name);          /* not ours (or not renamed): never removed by that name */
    t->name = NULL;
    return -1;
  }
  return 0;
}

void
vk_private_tmp_remove(struct vk_private_tmp *t)
{
  if (t->name) {
    CLEANUP_FREE char *path = vk_xasprintf("%s/%s", t->base, t->name);
    if (t->fd >= 0)
      empty_dir(t->fd, path);
    if (unlinkat(t->basefd, t->name, AT_REMOVEDIR) < 0 && errno != ENOENT)
      vk_warn("cannot remove %s: %s", path, strerror(errno));
    free(t->name);
    t->name = NULL;
  }
  if (t->fd >= 0)
    close(t->fd);
  t->fd = -1;
}
