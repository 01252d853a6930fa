/* vckpt - checkpoints follow the repository (lib/follow.c). */
#ifndef VCKPT_FOLLOW_H
#define VCKPT_FOLLOW_H

#include <stdbool.h>
#include <libvirt/libvirt.h>

#include "flow.h"
#include "manifest.h"

struct vk_repo;

/* Checkpoints follow the repository R (opened and locked by the caller:
 * a backup, right after its commit, before it lets go of the lock, so no
 * reader can slip in between and make the follow wait behind it): delete
 * DOM's checkpoints that a backup of R created (the description libvirt
 * holds is the identity the manifest recorded for it) and that neither
 * the next incremental backup (the newest backup's checkpoint) nor the
 * next differential one (the checkpoint of that backup's chain's full
 * backup, or that one's differential base: manifest.h) needs, and those
 * the manifest lists as retired.  libvirt merges their bitmaps into their
 * neighbours'; for a shut-off domain the bitmaps are removed first, then
 * the metadata, and what cannot be deleted is recorded as retired for the
 * next run.  A checkpoint vckpt did not create, or that a backup of
 * another repository created, is never touched.  After it, at most two
 * checkpoints per domain and repository are vckpt's.  0, or -1 (some
 * were left; warned).
 */
int vk_checkpoints_follow(virDomainPtr dom, struct vk_repo *r, const struct vk_flow_cb *cb);

/* The pieces prune uses with the manifest it is about to write. */
/* The checkpoints the next backups need in M (NULL-terminated, malloc'd):
 * the newest backup's and the one its chain's differentials are taken
 * from.
 */
char **vk_follow_needed(const struct vk_manifest *m);
/* Delete DOM's checkpoints of manifest M that NEEDED does not name; GOING
 * (per backup of M, or NULL) marks the backups a prune removes, whose
 * checkpoints that stay are recorded as retired in NEXT; the names deleted
 * (with DRY_RUN: to delete) go to *DELETED.  0, or -1 (some were left).
 */
int vk_follow_manifest(virDomainPtr dom, const struct vk_manifest *m, const bool *going,
                       char *const *needed, bool dry_run, const struct vk_flow_cb *cb,
                       char ***deleted, struct vk_manifest *next);
/* Libvirt's checkpoints could not be listed: record in NEXT as retired
 * every checkpoint of M that NEXT no longer records and NEEDED does not
 * name.
 */
void vk_follow_retire_unlooked(const struct vk_manifest *m, const bool *going,
                               char *const *needed, struct vk_manifest *next);
/* Whether the retired lists of A and B are the same. */
bool vk_follow_same_retired(const struct vk_manifest *a, const struct vk_manifest *b);

#endif
