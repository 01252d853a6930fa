/* vckpt - the copies of a domain's backups to other repositories, a side
 * record beside its manifest (repo.h, "Side records"):
 * REPO/DOMAIN/copies.json.  Status reads it (a domain's last copy); the
 * copy command (copy.h) writes it (vk_copies_add, with vk_record_write
 * under the record lock), one entry per destination, the last copy's:
 *
 *   {"version": 1, "copies": [
 *     {"backup": "inc-20261208T030000Z", "destination": "/mnt/offsite",
 *      "time": 1765000000, "outcome": "ok" | "failed",
 *      "message": null | "why it failed"}, ...]}
 *
 * TIME is when the copy ended; BACKUP the newest backup the destination
 * holds after it, or the source's newest when it failed.  Entries that
 * lack a backup, destination, time or outcome are skipped.
 */
#ifndef VCKPT_COPIES_H
#define VCKPT_COPIES_H

#include <stdbool.h>
#include <stddef.h>

#include "repo.h"

#define VK_COPIES_FILE "copies.json"

/* One copy of a backup. */
struct vk_copy_record {
  char *backup, *destination, *message;
  long long time;
  bool ok;
};

/* The copies recorded for the domain of REPO, in the record's order: 0
 * with *N 0 when there is no record (one that is not a regular file or
 * not of version 1 is a warning, and none).
 */
int vk_copies_load(const struct vk_repo *repo, struct vk_copy_record **out, size_t *n);
void vk_copy_records_free(struct vk_copy_record *r, size_t n);
/* Record a copy of REPO's backups to DESTINATION that ended now (OK, or
 * failed with MESSAGE), replacing the entry of DESTINATION.  A record
 * that cannot be read is replaced (warned); one that cannot be written
 * (a read-only repository) is a warning: the copy itself is done.
 */
void vk_copies_add(const struct vk_repo *repo, const char *destination, const char *backup,
                   bool ok, const char *message);

#endif
