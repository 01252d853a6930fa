/* vckpt - the outcome of a domain's last backup attempt, a side record
 * beside its manifest (repo.h, "Side records"): REPO/DOMAIN/last-run.json,
 * written by the backup command once the backup has ended (ok or not),
 * read by status, which says a domain failed last from it.
 *
 *   {"version": 1, "time": 1765000000, "outcome": "ok" | "failed",
 *    "exit": 0, "message": null | "the first error, on one line",
 *    "backup": "inc-20261208T030000Z" | null, "failures": 0,
 *    "host": "hv1.example" | null, "uri": "qemu+tcp://..." | null}
 *
 * FAILURES counts the failed attempts in a row (0 after a success).  A
 * run that never got to the backup (bad options, a domain libvirt does
 * not know, a dry run) records nothing; neither does one killed outright
 * (SIGKILL, power loss): status then judges by the backup's age.
 */
#ifndef VCKPT_LASTRUN_H
#define VCKPT_LASTRUN_H

#include <stdbool.h>
#include <libvirt/libvirt.h>

#include "repo.h"
#include "validate.h"

#define VK_LASTRUN_FILE "last-run.json"

/* A last-run record, as read. */
struct vk_lastrun {
  long long time;            /* when the attempt ended (unix seconds) */
  bool ok;
  int exit;                  /* its exit status (VK_EXIT_*) */
  int failures;              /* failed attempts in a row */
  char *message;             /* the failure's first error, or NULL */
  char *backup;              /* the backup it made, or NULL */
  char *host, *uri;          /* the hypervisor (vk_virt_host), or NULL */
};

/* Record the outcome of the backup of DOMAIN into repository REPO_DIR
 * over CONN that just ended: made BACKUP_ID, or failed (BACKUP_ID NULL)
 * with the status and first error of the unit of work running (util.h),
 * and the first error finding of its preflight's report REP (may be NULL).
 * Nothing is recorded when the domain's directory does not exist (a
 * first backup refused before it was made).  A record that cannot be
 * written is an error (status 1): status must not go on showing the
 * attempt before.
 */
void vk_lastrun_record(virConnectPtr conn, const char *repo_dir, const char *domain,
                       const char *backup_id, const struct vk_report *rep);
/* Read REPO's record into OUT: 1, or 0 when there is none (a record that
 * is not a regular file or not of version 1 is a warning, and none).
 */
int vk_lastrun_load(const struct vk_repo *repo, struct vk_lastrun *out);
void vk_lastrun_clear(struct vk_lastrun *r);

#endif
