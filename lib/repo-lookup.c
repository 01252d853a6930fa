/* vckpt - the repository's look-ups and chain checks (repo.h): which
 * backup a name means, whether the files a backup needs are sound, and
 * giving the disk files back to vckpt's user.  Read-only over the loaded
 * manifest, apart from vk_repo_give_back's chown.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access.h"
#include "fileio.h"
#include "qcow2.h"
#include "repo.h"
#include "util.h"

/* ---- look-ups ---- */

const struct vk_backup *
vk_repo_find_by_checkpoint(const struct vk_repo *r, const char *chk)
{
  for (size_t i = vk_repo_manifest(r)->nr_backups; i-- > 0; )
    if (strcmp(vk_repo_manifest(r)->backups[i].checkpoint, chk) == 0)
      return &vk_repo_manifest(r)->backups[i];
  return NULL;
}

const char *
vk_repo_checkpoint_record(const struct vk_repo *r, const char *chk, size_t *rank)
{
  for (size_t i = vk_repo_manifest(r)->nr_backups; i-- > 0; ) {
    const struct vk_backup *b = &vk_repo_manifest(r)->backups[i];
    if (strcmp(b->checkpoint, chk) == 0) {
      if (rank)
        *rank = 2 * i + 1;
      return b->checkpoint_xml;
    }
    if (b->base.checkpoint && strcmp(b->base.checkpoint, chk) == 0) {
      if (rank)
        *rank = 2 * i;
      return b->base.record;
    }
  }
  return NULL;
}

const struct vk_backup *
vk_repo_latest(const struct vk_repo *r)
{
  return vk_repo_manifest(r)->nr_backups ? &vk_repo_manifest(r)->backups[vk_repo_manifest(r)->nr_backups - 1] : NULL;
}

const struct vk_backup *
vk_repo_chain_full(const struct vk_repo *r, const char *chain)
{
  for (size_t i = 0; i < vk_repo_manifest(r)->nr_backups; i++)
    if (vk_repo_manifest(r)->backups[i].level == VK_LEVEL_FULL && strcmp(vk_repo_manifest(r)->backups[i].chain, chain) == 0)
      return &vk_repo_manifest(r)->backups[i];
  return NULL;
}

const struct vk_backup *
vk_repo_find_by_id(const struct vk_repo *r, const char *id)
{
  return vk_manifest_find_id(vk_repo_manifest(r), vk_repo_manifest(r)->nr_backups, id);
}

int
vk_repo_find_point(const struct vk_repo *r, const char *at, const struct vk_backup **out)
{
  *out = NULL;
  if (!at) {
    *out = vk_repo_latest(r);
    if (!*out)
      vk_error(VK_EXIT_NOT_FOUND, "the repository has no complete backup of '%s'", vk_repo_manifest(r)->domain);
    return *out ? 0 : -1;
  }
  const struct vk_backup *by_id = vk_repo_find_by_id(r, at);
  size_t n = 0;
  for (size_t i = 0; i < vk_repo_manifest(r)->nr_backups; i++)
    if (strcmp(vk_repo_manifest(r)->backups[i].checkpoint, at) == 0) {
      n++;
      *out = &vk_repo_manifest(r)->backups[i];
    }
  /* A checkpoint may be named like another backup's id: never guess. */
  if (by_id && n > 0 && !(n == 1 && *out == by_id)) {
    *out = NULL;
    vk_error(VK_EXIT_USAGE, "'%s' is the id of backup %s and the checkpoint of another "
             "backup: it is ambiguous (see 'vckpt list-backups')", at, by_id->id);
    return -1;
  }
  if (by_id) {
    *out = by_id;
    return 0;
  }
  if (n == 1)
    return 0;
  *out = NULL;
  if (n == 0) {
    vk_error(VK_EXIT_NOT_FOUND, "no complete backup of '%s' has id '%s' or ended at checkpoint "
             "'%s' (see 'vckpt list-backups')", vk_repo_manifest(r)->domain, at, at);
    return -1;
  }
  CLEANUP_FREE char *ids = vk_xstrdup("");
  for (size_t i = 0; i < vk_repo_manifest(r)->nr_backups; i++)
    if (strcmp(vk_repo_manifest(r)->backups[i].checkpoint, at) == 0) {
      char *more = vk_xasprintf("%s%s%s", ids, *ids ? ", " : "", vk_repo_manifest(r)->backups[i].id);
      free(ids);
      ids = more;
    }
  vk_error(VK_EXIT_USAGE, "%zu backups of '%s' ended at a checkpoint named '%s' (it was "
           "deleted and created again): give a backup id instead: %s", n, vk_repo_manifest(r)->domain, at, ids);
  return -1;
}

const struct vk_backup_disk *
vk_repo_find_file(const struct vk_repo *r, const char *relative, const struct vk_backup **owner)
{
  for (size_t i = vk_repo_manifest(r)->nr_backups; i-- > 0; ) {
    const struct vk_backup *b = &vk_repo_manifest(r)->backups[i];
    for (size_t j = 0; j < b->nr_disks; j++)
      if (strcmp(b->disks[j].file, relative) == 0) {
        if (owner)
          *owner = b;
        return &b->disks[j];
      }
  }
  return NULL;
}

/* The cheap check of one disk file D: *WHY set when damaged (1). */
static int
check_file(const struct vk_repo *r, const struct vk_backup_disk *d, bool sizes, char **why)
{
  const char *f = d->file;
  struct stat st;
  CLEANUP_CLOSE int fd = vk_open_regular_quiet(vk_repo_dirfd(r), f, VK_READ_NOFOLLOW, &st);
  if (fd < 0) {
    *why = vk_xasprintf("file %s: %s", f, errno == ENOENT ? "missing" :
                        errno == ELOOP ? "a symbolic link, not a regular file" :
                        errno == EINVAL ? "not a regular file" : strerror(errno));
    return 1;
  }
  if (sizes && d->file_size && (uint64_t)st.st_size != d->file_size) {
    *why = vk_xasprintf("file %s: size %llu, the manifest says %llu", f,
                        (unsigned long long)st.st_size, (unsigned long long)d->file_size);
    return 1;
  }
  struct vk_source src = { .opaque = &fd, .size = st.st_size, .pread = vk_fd_pread };
  struct vk_image img;
  char *err = NULL;
  if (vk_image_parse(&src, f, "qcow2", &img, &err) < 0) {
    /* The reader's message starts with the name it was given: once is enough. */
    const char *msg = err && strncmp(err, f, strlen(f)) == 0 && strncmp(err + strlen(f), ": ", 2) == 0
                      ? err + strlen(f) + 2 : err;
    *why = vk_xasprintf("file %s: qcow2 header unreadable: %s", f, msg ? msg : "out of memory");
    free(err);
    return 1;
  }
  const char *want = d->backing ? (strrchr(d->backing, '/') ? strrchr(d->backing, '/') + 1
                                                            : d->backing) : NULL;
  int rc = 0;
  if ((want == NULL) != (img.backing_file == NULL) ||
      (want && strcmp(want, img.backing_file) != 0)) {
    CLEANUP_FREE char *have = img.backing_file ? vk_printable(img.backing_file) : NULL;
    *why = vk_xasprintf("file %s: backing file is %s%s%s, the manifest says %s%s%s", f,
                        have ? "'" : "", have ? have : "none", have ? "'" : "",
                        want ? "'" : "", want ? want : "none", want ? "'" : "");
    rc = 1;
  } else if (sizes && d->virtual_size && img.virtual_size != d->virtual_size) {
    *why = vk_xasprintf("file %s: virtual size %llu, the manifest says %llu", f,
                        (unsigned long long)img.virtual_size,
                        (unsigned long long)d->virtual_size);
    rc = 1;
  }
  vk_image_clear(&img);
  return rc;
}

int
vk_repo_check_disk_chain(const struct vk_repo *r, const struct vk_backup *b,
                         const char *target, bool sizes, char **why)
{
  *why = NULL;
  const struct vk_backup_disk *d = vk_backup_find_disk(b, target);
  if (!d) {
    vk_error(VK_EXIT_NOT_FOUND, "backup %s has no disk '%s'", b->id, target);
    return -1;
  }
  for (size_t depth = 0; d; depth++) {
    if (depth > vk_repo_manifest(r)->nr_backups) {
      *why = vk_xasprintf("disk %s of backup %s: the backing files form a loop", target, b->id);
      return 1;
    }
    int rc = check_file(r, d, sizes, why);
    if (rc != 0)
      return rc;
    if (!d->backing)
      break;
    const struct vk_backup_disk *next = vk_repo_find_file(r, d->backing, NULL);
    if (!next) {
      *why = vk_xasprintf("file %s: its backing file %s is not in the manifest", d->file,
                          d->backing);
      return 1;
    }
    d = next;
  }
  return 0;
}

int
vk_repo_check_chain(const struct vk_repo *r, const struct vk_backup *b, char **why)
{
  *why = NULL;
  for (size_t i = 0; i < b->nr_disks; i++) {
    int rc = vk_repo_check_disk_chain(r, b, b->disks[i].target, true, why);
    if (rc != 0)
      return rc;
  }
  return 0;
}

int
vk_repo_give_back(struct vk_repo *r)
{
  const struct vk_manifest *m = vk_repo_manifest(r);
  int n = 0;
  for (size_t i = 0; i < m->nr_backups; i++)
    for (size_t j = 0; j < m->backups[i].nr_disks; j++) {
      const char *file = m->backups[i].disks[j].file;
      struct stat st;
      if (fstatat(vk_repo_dirfd(r), file, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
          (st.st_uid == geteuid() && st.st_gid == getegid() && (st.st_mode & 07777) == 0600))
        continue;
      CLEANUP_CLOSE int fd = vk_open_regular_quiet(vk_repo_dirfd(r), file, VK_READ_NOFOLLOW, &st);
      int rc = fd < 0 ? -1 : vk_give_back_fd(fd);
      if (rc < 0) {
        vk_warn("%s/%s: cannot give it back to uid %u (mode 0600): %s", vk_repo_dir(r), file,
                (unsigned)geteuid(), strerror(errno));
        continue;
      }
      if (rc > 0) {
        vk_debug("%s/%s: given back (was uid %u, mode %04o)", vk_repo_dir(r), file,
                 (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
        n++;
      }
    }
  return n;
}
