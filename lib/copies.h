/* vckpt - the copies of a domain's backups to other repositories, a side
 * record beside its manifest (repo.h, "Side records"):
 * REPO/DOMAIN/copies.json.  Status reads it (a domain's last copy); the
 * copy command (issue 22) writes it, with vk_record_write under the record
 * lock, and owns this format from then on:
 *
 *   {"version": 1, "copies": [
 *     {"backup": "inc-20261208T030000Z", "destination": "/mnt/offsite",
 *      "time": 1765000000, "outcome": "ok" | "failed",
 *      "message": null | "why it failed"}, ...]}
 *
 * TIME is when the copy ended.  Entries that lack a backup, destination,
 * time or outcome are skipped.
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

#endif
