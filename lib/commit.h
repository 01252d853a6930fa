/* vckpt - a commit (cold merge) of qcow2 images into a base below them in
 * their backing chain that carries the bitmaps: the committed images'
 * bitmaps are added to the base and merged into it (a bitmap may gain bits,
 * never lose one), then the data is committed with qemu-img commit -d (the
 * top keeps its data, so an interrupted commit changes nothing anyone
 * reads), then the image above the top is rebased onto the base.  Every
 * step can run again.  commit --image is this alone; the domain form
 * (imageop.h) journals the same steps and switches the definition.  No
 * libvirt.
 */
#ifndef VCKPT_COMMIT_H
#define VCKPT_COMMIT_H

#include <stdbool.h>

#include "imagefile.h"

/* What a commit will do: absolute paths of the active image, TOP, BASE
 * and the image above TOP (NULL when TOP is the active one).
 */
struct vk_commit_plan {
  char *active, *top, *base, *above;
};
/* Plan the commit of TOP (default ACTIVE) and every image down to BASE
 * (default TOP's backing file) in ACTIVE's chain into BASE: checks that TOP
 * is in ACTIVE's chain with BASE below it, all qcow2, that nothing holds
 * the images, and that the bitmaps allow it (exit 4 if not).  0 with P
 * filled (clear it with vk_commit_plan_clear), or -1 after reporting.
 */
int vk_commit_plan_make(const char *active, const char *top, const char *base,
                        struct vk_commit_plan *p);
void vk_commit_plan_clear(struct vk_commit_plan *p);
/* The data and bitmap steps of a commit of TOP (and the images down to
 * BASE) into BASE: add to BASE each bitmap of the committed images it
 * lacks, merge every bitmap of the committed images into its counterpart
 * (OUT->copied), then commit the data (qemu-img commit -d).  Every step can
 * be run again.  0, or -1 after reporting.
 */
int vk_commit_steps(const char *top, const char *base, struct vk_imageop_disk *out);
/* Rebase ABOVE onto BASE without copying (the data is identical after the
 * commit).  Already on BASE: nothing to do.
 */
int vk_commit_rebase(const char *above, const char *base);
/* Whether ABOVE already has BASE as its backing file. */
bool vk_commit_rebased(const char *above, const char *base);

/* commit --image ACTIVE [--top TOP] [--base BASE]: no libvirt.  TOP
 * (default ACTIVE) and every image down to BASE (default TOP's backing
 * file) are committed into BASE; the image above TOP is rebased onto BASE.
 */
int vk_commit_image(const char *active, const char *top, const char *base,
                    struct vk_imageop_result *res);

#endif
