/* vckpt - an overlay that carries the bitmaps (overlay.h). */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "overlay.h"
#include "process.h"
#include "util.h"

/* Why bitmap B of a backing image is not carried into an overlay, or NULL. */
static const char *
skip_reason(const struct vk_bitmap *b)
{
  if (b->problem)
    return "invalid";
  if (b->in_use)
    return "in-use (not saved cleanly)";
  if (!b->enabled)
    return "disabled (not recording)";
  return NULL;
}

/* Make TMP an overlay on the image IMG (named BNAME from TMP's directory)
 * with every bitmap of IMG that can be carried, then rename it to PATH
 * (never over an existing file).  0, or -1 after reporting.
 */
static int
fill_overlay(const struct vk_image *img, const char *bname, const char *tmp, const char *path,
             struct vk_imageop_disk *out)
{
  CLEANUP_FREE char *ptmp = vk_printable(tmp);
  CLEANUP_FREE char *ppath = vk_printable(path);
  char *cargv[] = { (char *)QEMU_IMG, "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                    (char *)bname, (char *)tmp, NULL };
  if (vk_run(cargv) < 0)
    return -1;
  for (size_t i = 0; i < img->nr_bitmaps; i++) {
    const struct vk_bitmap *b = &img->bitmaps[i];
    const char *why = skip_reason(b);
    if (why) {
      CLEANUP_FREE char *name = vk_printable(b->name);
      vk_strv_push(&out->skipped, vk_xasprintf("%s: %s", name, why));
      continue;
    }
    char g[32];
    snprintf(g, sizeof g, "%llu", 1ULL << b->granularity_bits);
    /* "--": a bitmap name from the image may start with '-'. */
    char *bargv[] = { (char *)QEMU_IMG, "bitmap", "--add", "-g", g, "-f", "qcow2", "--",
                      (char *)tmp, b->name, NULL };
    if (vk_run(bargv) < 0)
      return -1;
    vk_strv_push(&out->copied, vk_xstrdup(b->name));
  }
  if (vk_stop_signal) {
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: %s was not made",
             (int)vk_stop_signal, ppath);
    return -1;
  }
  if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
    if (errno == EEXIST)
      vk_error(VK_EXIT_FAILURE, "%s already exists: not replacing it", ppath);
    else
      vk_error(VK_EXIT_FAILURE, "cannot rename %s to %s: %s", ptmp, ppath, strerror(errno));
    return -1;
  }
  return 0;
}

int
vk_overlay_make(const char *base, const char *path, const char *tmp, bool follow,
                struct vk_imageop_disk *out)
{
  CLEANUP_IMAGE struct vk_image img = { 0 };
  if (vk_check_dir_of(path, "overlay directory") < 0 ||
      vk_image_open_qcow2(base, follow, &img) < 0 || vk_check_not_held(base) < 0)
    return -1;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    CLEANUP_FREE char *ptmp = vk_printable(tmp);
    vk_error(VK_EXIT_FAILURE, "%s: cannot create: %s", ptmp, strerror(errno));
    return -1;
  }
  close(fd);
  CLEANUP_FREE char *bname = vk_backing_name(path, base);
  if (fill_overlay(&img, bname, tmp, path, out) < 0) {
    unlink(tmp);
    return -1;
  }
  return vk_sync_dir_of(path);
}

/* vk_overlay_image under its catch of the stop signals. */
static int
overlay_image_caught(const char *base, const char *new_image, struct vk_imageop_result *res)
{
  memset(res, 0, sizeof *res);
  res->kind = "overlay";
  CLEANUP_FREE char *abase = vk_abs_path(base);
  if (!abase)
    return -1;
  CLEANUP_FREE char *anew = vk_abs_path(new_image);
  if (!anew || vk_check_dir_of(anew, "overlay directory") < 0 || vk_check_absent(anew) < 0)
    return -1;
  CLEANUP_FREE char *tmp = vk_temp_name(anew);
  res->d = vk_xcalloc(1, sizeof *res->d);
  res->n = 1;
  res->d[0].base = vk_xstrdup(abase);
  res->d[0].image = vk_xstrdup(anew);
  return vk_overlay_make(abase, anew, tmp, false, &res->d[0]);
}

/* Overlay an image: a stop signal rolls back or comes too late (process.h). */
int
vk_overlay_image(const char *base, const char *new_image, struct vk_imageop_result *res)
{
  vk_stop_catch_begin();
  int r = overlay_image_caught(base, new_image, res);
  vk_stop_catch_end();
  return r;
}

/* ---- overlays without bitmaps (drills, instant recovery) ---- */

int
vk_overlay_create(int dirfd, const char *dir, const char *name, const char *backing,
                  uint64_t virtual_size)
{
  /* -u: qemu-img does not open the backing chain (the size is given);
   * the new file is reached through descriptor 3, no path to swap.
   */
  CLEANUP_FREE char *dst = vk_xasprintf("/dev/fd/3/%s", name);
  CLEANUP_FREE char *size = vk_xasprintf("%" PRIu64, virtual_size);
  char *argv[] = { (char *)QEMU_IMG, "create", "-q", "-f", "qcow2", "-u", "-F", "qcow2",
                   "-b", (char *)backing, dst, size, NULL };
  if (!backing) {             /* a standalone empty image */
    argv[5] = dst;
    argv[6] = size;
    argv[7] = NULL;
  }
  int status;
  CLEANUP_FREE char *msg = NULL;
  if (vk_spawn(argv, dirfd, -1, &status, &msg) < 0)
    return -1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    vk_error(VK_EXIT_FAILURE, "%s create of %s/%s failed%s%s", argv[0], dir, name,
             msg && *msg ? ": " : "", msg ? msg : "");
    return -1;
  }
  if (fchmodat(dirfd, name, 0600, 0) < 0) {
    vk_error(VK_EXIT_FAILURE, "%s/%s: %s", dir, name, strerror(errno));
    return -1;
  }
  return 0;
}

int
vk_overlay_create_in(int dirfd, const char *dir, const char *name, const char *backing,
                     uint64_t virtual_size)
{
  CLEANUP_FREE char *tmpl = vk_xasprintf("%s/.vckpt-new-XXXXXX", dir);
  if (!mkdtemp(tmpl)) {
    vk_error(VK_EXIT_FAILURE, "cannot create a directory in %s: %s", dir, strerror(errno));
    return -1;
  }
  const char *made = strrchr(tmpl, '/') + 1;
  int tfd = openat(dirfd, made, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (tfd < 0 || fstat(tfd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 0077) != 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", tmpl,
             tfd < 0 ? strerror(errno) : "not the private directory just created");
    if (tfd >= 0)
      close(tfd);
    return -1;       /* not ours: never removed */
  }
  int r = vk_overlay_create(tfd, tmpl, name, backing, virtual_size);
  if (r == 0 && renameat2(tfd, name, dirfd, name, RENAME_NOREPLACE) < 0) {
    vk_error(VK_EXIT_FAILURE, "%s/%s: %s", dir, name,
             errno == EEXIST ? "already exists: never replaced" : strerror(errno));
    r = -1;
  }
  unlinkat(tfd, name, 0);
  close(tfd);
  unlinkat(dirfd, made, AT_REMOVEDIR);
  return r;
}
