/* vckpt - instant recovery: a domain running from a backup at once.
 *
 * restore --instant defines and starts a new persistent domain whose disks
 * are qcow2 overlays (in the restore's --to directory) over the backup's
 * read-only files; restore --finish later moves its disks onto standalone
 * images while it runs (libvirt block copy, then pivot), after which it no
 * longer depends on the repository.  While an instant domain runs from a
 * backup, the repository records it in REPO/DOMAIN/instant.json
 * ({"version": 1, "domains": [{"name": NEW, "backup": ID, "overlays":
 * [PATH...], "start": UNIX}]}), so that a prune or rewrite can leave that
 * backup's files alone; --finish removes the entry.
 */
#ifndef VCKPT_INSTANT_H
#define VCKPT_INSTANT_H

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>
#include <libvirt/libvirt.h>

#include "restore.h"

/* The file of the instant domains in the domain directory. */
#define VK_INSTANT_FILE "instant.json"

/* Define REQ->define on overlays in REQ->to over backup REQ->at and start
 * it (REQ->disks, REQ->no_verify unused: nothing is copied; the chain is
 * checked cheaply, vk_repo_check_chain).  A name already recorded as an
 * instant domain, or of an existing domain, is refused before anything is
 * written.  Returns 0 with the overlays in *OUT (*N), or -1 (nothing left).
 */
int vk_instant_start(virConnectPtr conn, const struct vk_restore_request *req,
                     char **backup_id, struct vk_restored **out, size_t *n);

/* Move every disk of the running instant domain NAME (recorded in the
 * repository REPO_DIR) onto a standalone qcow2 image TO/NAME-TARGET.qcow2
 * (block copy, full, then pivot), make its persistent definition use them,
 * check that no disk depends on the repository any more, remove the
 * overlays and the record.  Returns 0 with the images in *OUT, or -1.
 */
int vk_instant_finish(virConnectPtr conn, const char *repo_dir, const char *name,
                      const char *to, struct vk_restored **out, size_t *n);

/* Whether the record ENTRY of instant.json may still be in use: false only
 * when it lists overlays and none of them exists (a stale entry of an
 * interrupted --instant).
 */
bool vk_instant_entry_live(json_object *entry);

struct vk_repo;
/* The ids of the backups instant domains may run from (live entries of
 * R's record), NULL-terminated in *OUT (freed with vk_strv_free); an empty
 * list without a record.  -1 if the record cannot be read (reported).
 */
int vk_instant_live_backups(const struct vk_repo *r, char ***out);

#endif
