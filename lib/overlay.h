/* vckpt - an overlay (external snapshot) of a qcow2 image whose bitmaps
 * continue the backing image's: every recording, consistent bitmap of the
 * backing image is added to the overlay with its granularity, so a backup
 * after the switch reads the same bitmaps it read before.
 *
 * The overlay is made under an unpredictable temporary name in its
 * directory and renamed into place at the end (renameat2
 * RENAME_NOREPLACE): it exists only once it is complete, and a killed run
 * leaves at most a .vckpt-* file.  overlay create --image is this alone;
 * the domain form (imageop.h) makes its overlays with vk_overlay_make.
 * Drills and instant recovery make plain overlays on backups
 * (vk_overlay_create).  No libvirt.
 */
#ifndef VCKPT_OVERLAY_H
#define VCKPT_OVERLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "imagefile.h"

/* Create the overlay PATH on BASE (absolute paths) through the temporary
 * file TMP in PATH's directory, carrying every recording and consistent
 * bitmap of BASE with its granularity (OUT: copied and skipped), then
 * rename TMP to PATH (never over an existing file).  FOLLOW: BASE may be a
 * symbolic link.  0, or -1 after reporting.
 */
int vk_overlay_make(const char *base, const char *path, const char *tmp, bool follow,
                    struct vk_imageop_disk *out);
/* overlay create --image BASE NEW: no libvirt. */
int vk_overlay_image(const char *base, const char *new_image, struct vk_imageop_result *res);

/* An overlay that carries no bitmaps, for a drill or an instant domain:
 * create NAME in directory DIRFD (DIR in messages), a qcow2 overlay of
 * VIRTUAL_SIZE bytes on the qcow2 file BACKING (an absolute path, not
 * opened), or with BACKING NULL an empty qcow2 image, mode 0600.  qemu-img
 * follows a symbolic link of that name: DIRFD must be private, or use
 * vk_overlay_create_in, which is safe in any directory.
 */
int vk_overlay_create(int dirfd, const char *dir, const char *name, const char *backing,
                      uint64_t virtual_size);
/* The same, made in a private directory (0700, unpredictable name) inside
 * DIR and renamed into place with renameat2(RENAME_NOREPLACE): a file or
 * symbolic link of that name is never replaced or followed.
 */
int vk_overlay_create_in(int dirfd, const char *dir, const char *name, const char *backing,
                         uint64_t virtual_size);

#endif
