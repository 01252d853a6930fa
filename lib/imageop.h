/* vckpt - overlay and commit of a shut-off domain's disks, journaled, and
 * the finishing of one a killed run left (overlay.h and commit.h work on
 * the image files; this is their domain form).
 *
 * The domain forms write a journal first (STATE/imageop-UUID.xml, STATE =
 * $VCKPT_STATE_DIR, else /var/lib/vckpt, mode 0700; its format is built and
 * read by journal.c, valid against xml/manifest.rng), do the steps in an
 * order where the old chain stays valid until the switch of the definition
 * and a bitmap can only gain bits, and remove the journal last; every step
 * can run again, so a killed run is finished by vk_imageop_recover (and by
 * running any overlay or commit command on the domain again).
 */
#ifndef VCKPT_IMAGEOP_H
#define VCKPT_IMAGEOP_H

#include <stdbool.h>
#include <libvirt/libvirt.h>

#include "flow.h"
#include "imagefile.h"

/* overlay create DOMAIN [--disk ...] [--name SNAP]: each disk's overlay
 * is DIR/STEM.SNAP.qcow2 next to the current top DIR/STEM.qcow2 (SNAP:
 * NULL for the UTC time, 20261122T180000Z); the persistent definition then
 * names the overlays.  A pending operation of the domain is finished
 * instead (RES->resumed).
 */
int vk_overlay_domain(virDomainPtr dom, char *const *disks, const char *snap,
                      struct vk_imageop_result *res);
/* commit DOMAIN --disk DISK --top TOP [--base BASE]. */
int vk_commit_domain(virDomainPtr dom, const char *disk, const char *top, const char *base,
                     struct vk_imageop_result *res);

/* Finish what the journal of DOM says (roll forward).  The caller holds the
 * domain's host lock (vk_host_lock) or knows no other vckpt runs on it.
 * DRY_RUN describes the steps through CB and changes nothing.  1 if there
 * was a journal and it is done (or described), 0 if there was none, -1
 * after reporting (the journal then stays).
 */
int vk_imageop_recover(virConnectPtr conn, virDomainPtr dom, bool dry_run,
                       const struct vk_flow_cb *cb);
/* Whether DOM has a pending image operation: 1 with *WHAT a sentence
 * describing it (malloc'd), 0 if none, -1 after reporting.
 */
int vk_imageop_pending(virDomainPtr dom, char **what);
/* The state directory: $VCKPT_STATE_DIR, else /var/lib/vckpt. */
const char *vk_state_dir(void);

/* Whether the image file PATH is in the backing chain of a disk of
 * another domain of DOM's connection than DOM (a linked clone on a shared
 * base): *OTHER is then that domain's name (malloc'd).  1 yes, 0 no, -1
 * if the domains cannot be listed (reported).  Changing such an image
 * (committing into it, removing its bitmaps) changes the other domain too.
 */
int vk_image_shared(virDomainPtr dom, const char *path, char **other);

#endif
