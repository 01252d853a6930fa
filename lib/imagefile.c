/* vckpt - what overlay and commit share (imagefile.h). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "fileio.h"
#include "imagefile.h"
#include "output.h"
#include "util.h"

/* ---- results ---- */

void
vk_imageop_result_clear(struct vk_imageop_result *res)
{
  for (size_t i = 0; i < res->n; i++) {
    struct vk_imageop_disk *d = &res->d[i];
    free(d->target);
    free(d->base);
    free(d->image);
    free(d->above);
    vk_strv_free(d->copied);
    vk_strv_free(d->skipped);
  }
  free(res->d);
  free(res->resumed_kind);
  memset(res, 0, sizeof *res);
}

static json_object *
strv_json(char *const *v)
{
  json_object *a = json_object_new_array();
  for (size_t i = 0; v && v[i]; i++)
    json_object_array_add(a, vk_json_string(v[i]));
  return a;
}

json_object *
vk_imageop_result_json(const struct vk_imageop_result *res)
{
  json_object *o = json_object_new_object();
  json_object_object_add(o, "operation", json_object_new_string(res->kind));
  json_object_object_add(o, "resumed", json_object_new_boolean(res->resumed));
  json_object_object_add(o, "resumed_operation", vk_json_string(res->resumed_kind));
  json_object *arr = json_object_new_array();
  for (size_t i = 0; i < res->n; i++) {
    const struct vk_imageop_disk *d = &res->d[i];
    json_object *j = json_object_new_object();
    json_object_object_add(j, "disk", vk_json_string(d->target));
    json_object_object_add(j, "base", vk_json_string(d->base));
    json_object_object_add(j, strcmp(res->resumed_kind ? res->resumed_kind : res->kind,
                                     "overlay") == 0 ? "overlay" : "top",
                           vk_json_string(d->image));
    json_object_object_add(j, "rebased", vk_json_string(d->above));
    json_object_object_add(j, "bitmaps", strv_json(d->copied));
    json_object_object_add(j, "skipped", strv_json(d->skipped));
    json_object_array_add(arr, j);
  }
  json_object_object_add(o, "disks", arr);
  return o;
}

/* ---- names ---- */

char *
vk_dir_of(const char *path)
{
  const char *s = strrchr(path, '/');
  if (!s)
    return vk_xstrdup(".");
  if (s == path)
    return vk_xstrdup("/");
  return vk_xasprintf("%.*s", (int)(s - path), path);
}

const char *
vk_base_of(const char *path)
{
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

char *
vk_abs_path(const char *path)
{
  const char *b = vk_base_of(path);
  if (!*b || strcmp(b, ".") == 0 || strcmp(b, "..") == 0) {
    CLEANUP_FREE char *p = vk_printable(path);
    vk_error(VK_EXIT_USAGE, "'%s' is not a file name", p);
    return NULL;
  }
  CLEANUP_FREE char *dir = vk_dir_of(path);
  CLEANUP_FREE char *real = realpath(dir, NULL);
  if (!real) {
    CLEANUP_FREE char *p = vk_printable(dir);
    vk_error(errno == ENOENT ? VK_EXIT_NOT_FOUND : VK_EXIT_FAILURE, "%s: %s", p, strerror(errno));
    return NULL;
  }
  return vk_xasprintf("%s/%s", strcmp(real, "/") == 0 ? "" : real, b);
}

char *
vk_backing_name(const char *path, const char *backing)
{
  CLEANUP_FREE char *d1 = vk_dir_of(path);
  CLEANUP_FREE char *d2 = vk_dir_of(backing);
  return vk_xstrdup(strcmp(d1, d2) == 0 ? vk_base_of(backing) : backing);
}

char *
vk_temp_name(const char *path)
{
  unsigned char rnd[8];
  if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
    for (size_t i = 0; i < sizeof rnd; i++)   /* no entropy yet: still not predictable enough? */
      rnd[i] = (unsigned char)(random() ^ getpid() ^ time(NULL));
  CLEANUP_FREE char *dir = vk_dir_of(path);
  return vk_xasprintf("%s/.vckpt-%02x%02x%02x%02x%02x%02x%02x%02x.%s", dir, rnd[0], rnd[1],
                      rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], vk_base_of(path));
}

/* ---- checks ---- */

int
vk_check_absent(const char *path)
{
  struct stat st;
  CLEANUP_FREE char *p = vk_printable(path);
  if (lstat(path, &st) == 0) {
    vk_error(VK_EXIT_FAILURE, "%s already exists: not replacing it", p);
    return -1;
  }
  if (errno != ENOENT) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", p, strerror(errno));
    return -1;
  }
  return 0;
}

int
vk_check_not_held(const char *path)
{
  if (!vk_image_held(path))
    return 0;
  CLEANUP_FREE char *p = vk_printable(path);
  vk_error(VK_EXIT_BUSY, "%s is open in a running QEMU (or another program): image surgery "
           "under it would corrupt it; for a running domain take a live external snapshot "
           "(virsh snapshot-create-as DOMAIN --disk-only), which carries the bitmaps too", p);
  return -1;
}

int
vk_check_dir_of(const char *path, const char *what)
{
  CLEANUP_FREE char *dir = vk_xstrdup(path);
  char *slash = strrchr(dir, '/');
  if (slash)
    slash[slash == dir ? 1 : 0] = '\0';
  CLEANUP_CLOSE int fd = vk_dir_open_trusted_base(slash ? dir : ".", what, NULL);
  return fd < 0 ? -1 : 0;
}

int
vk_image_open_qcow2(const char *path, bool follow, struct vk_image *img)
{
  struct stat st;
  CLEANUP_FREE char *p = vk_printable(path);
  int r = follow ? stat(path, &st) : lstat(path, &st);
  if (r < 0) {
    vk_error(errno == ENOENT ? VK_EXIT_NOT_FOUND : VK_EXIT_FAILURE, "%s: %s", p, strerror(errno));
    return -1;
  }
  if (S_ISLNK(st.st_mode)) {
    vk_error(VK_EXIT_FAILURE, "%s is a symbolic link: name the image itself", p);
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    vk_error(VK_EXIT_FAILURE, "%s is %s, not a regular file", p, vk_file_type_name(st.st_mode));
    return -1;
  }
  char *err = NULL;
  if (vk_image_open(path, "qcow2", img, &err) < 0) {
    CLEANUP_FREE char *m = vk_printable(err ? err : "out of memory");
    vk_error(VK_EXIT_FAILURE, "%s", m);
    free(err);
    return -1;
  }
  if (img->corrupt) {
    vk_error(VK_EXIT_FAILURE, "%s is marked corrupt: repair it first (qemu-img check -r all)", p);
    vk_image_clear(img);
    return -1;
  }
  return 0;
}

int
vk_sync_dir_of(const char *path)
{
  CLEANUP_FREE char *dir = vk_dir_of(path);
  CLEANUP_CLOSE int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || fsync(fd) < 0) {
    CLEANUP_FREE char *p = vk_printable(dir);
    vk_error(VK_EXIT_FAILURE, "%s: fsync: %s", p, strerror(errno));
    return -1;
  }
  return 0;
}
