/* vckpt - what overlay and commit share (overlay.h, commit.h, imageop.h):
 * the result of an operation, and the image files they work on: their
 * names (directory, absolute, backing name, temporary name) and the checks
 * made before qemu-img touches one (absent, not held by a QEMU, in a
 * directory only root may change, qcow2 and not marked corrupt).  No
 * libvirt.
 */
#ifndef VCKPT_IMAGEFILE_H
#define VCKPT_IMAGEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>

#include "qcow2.h"

/* What an operation did to one disk (or one image). */
struct vk_imageop_disk {
  char *target;        /* vda, or NULL in an image form */
  char *base;          /* overlay: the backing image; commit: the base */
  char *image;         /* overlay: the new overlay; commit: the top committed */
  char *above;         /* commit: the image rebased onto BASE, or NULL */
  char **copied;       /* bitmaps added to the overlay / merged into the base */
  char **skipped;      /* overlay: bitmaps not copied, "NAME: why" */
};

struct vk_imageop_result {
  const char *kind;    /* "overlay" or "commit" */
  bool resumed;        /* a pending operation was finished instead */
  char *resumed_kind;  /* its kind, when resumed */
  size_t n;
  struct vk_imageop_disk *d;
};

void vk_imageop_result_clear(struct vk_imageop_result *res);
json_object *vk_imageop_result_json(const struct vk_imageop_result *res);

/* The directory part of PATH ("." when none). */
char *vk_dir_of(const char *path);
/* The last component of PATH. */
const char *vk_base_of(const char *path);
/* PATH made absolute, its directory resolved, its last component not;
 * NULL after reporting.
 */
char *vk_abs_path(const char *path);
/* The backing name to record in the image at PATH for BACKING (both
 * absolute): relative when both are in one directory, as qemu-img -b.
 */
char *vk_backing_name(const char *path, const char *backing);
/* An unpredictable temporary name next to PATH (".vckpt-RANDOM.NAME"). */
char *vk_temp_name(const char *path);

/* Refuse unless PATH does not exist. */
int vk_check_absent(const char *path);
/* Refuse an image a running QEMU (or anything else) holds open (exit 5). */
int vk_check_not_held(const char *path);
/* Refuse (status 2) the image PATH (WHAT in messages) when its directory,
 * or one above it, is one another user may change: qemu-img runs as root
 * on names there.
 */
int vk_check_dir_of(const char *path, const char *what);
/* Read the qcow2 image PATH that vckpt stacks on or changes into IMG: a
 * regular file (a symbolic link only when FOLLOW), qcow2, not marked
 * corrupt.  0, or -1 after reporting (IMG then holds nothing).
 */
int vk_image_open_qcow2(const char *path, bool follow, struct vk_image *img);
/* fsync the directory of PATH. */
int vk_sync_dir_of(const char *path);

#endif
