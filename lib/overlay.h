/* vckpt - an overlay (external snapshot) of a qcow2 image whose bitmaps
 * continue the backing image's: every recording, consistent bitmap of the
 * backing image is added to the overlay with its granularity, so a backup
 * after the switch reads the same bitmaps it read before.
 *
 * The overlay is made under an unpredictable temporary name in its
 * directory and renamed into place at the end (renameat2
 * RENAME_NOREPLACE): it exists only once it is complete, and a killed run
 * leaves at most a .vckpt-* file.  overlay create --image is this alone;
 * the domain form (imageop.h) makes its overlays with vk_overlay_make.  No
 * libvirt.
 */
#ifndef VCKPT_OVERLAY_H
#define VCKPT_OVERLAY_H

#include <stdbool.h>

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

#endif
