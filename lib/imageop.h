/* vckpt - image operations on a shut-off domain's backing chains that
 * carry the dirty bitmaps along: an overlay (external snapshot) whose
 * bitmaps continue the backing image's, and a commit (cold merge) that
 * merges the committed images' bitmaps into the base.
 *
 * Every change runs qemu-img without a shell (vk_run).  The domain forms
 * write a journal first (STATE/imageop-UUID.xml, STATE = $VCKPT_STATE_DIR,
 * else /var/lib/vckpt, mode 0700), do the steps in an order where the old
 * chain stays valid until the switch and a bitmap can only gain bits, and
 * remove the journal last; every step can run again, so a killed run is
 * finished by vk_imageop_recover (and by running any overlay or commit
 * command on the domain again).  The image forms have no journal: overlay
 * builds NEW under an unpredictable temporary name and renames it into
 * place at the end (renameat2 RENAME_NOREPLACE); commit can be run again
 * until it has switched the chain.
 */
#ifndef VCKPT_IMAGEOP_H
#define VCKPT_IMAGEOP_H

#include <stdbool.h>
#include <json-c/json.h>
#include <libvirt/libvirt.h>

#include "flow.h"

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

/* overlay create --image BASE NEW: no libvirt. */
int vk_overlay_image(const char *base, const char *new_image, struct vk_imageop_result *res);
/* overlay create DOMAIN [--disk ...] [--name SNAP]: each disk's overlay
 * is DIR/STEM.SNAP.qcow2 next to the current top DIR/STEM.qcow2 (SNAP:
 * NULL for the UTC time, 20261122T180000Z); the persistent definition then
 * names the overlays.  A pending operation of the domain is finished
 * instead (RES->resumed).
 */
int vk_overlay_domain(virDomainPtr dom, char *const *disks, const char *snap,
                      struct vk_imageop_result *res);
/* commit --image ACTIVE [--top TOP] [--base BASE]: no libvirt.  TOP
 * (default ACTIVE) and every image down to BASE (default TOP's backing
 * file) are committed into BASE; the image above TOP is rebased onto BASE.
 */
int vk_commit_image(const char *active, const char *top, const char *base,
                    struct vk_imageop_result *res);
/* commit DOMAIN --disk DISK --top TOP [--base BASE]. */
int vk_commit_domain(virDomainPtr dom, const char *disk, const char *top, const char *base,
                     struct vk_imageop_result *res);
void vk_imageop_result_clear(struct vk_imageop_result *res);
json_object *vk_imageop_result_json(const struct vk_imageop_result *res);

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
