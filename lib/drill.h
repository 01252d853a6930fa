/* vckpt - restore drills: boot a backup without copying it.
 *
 * A drill starts a transient domain (never defined) from the domain XML
 * saved with a backup, with no network, its disks on temporary qcow2
 * overlays over the backup's files (which QEMU opens read-only as backing
 * files) in a private directory, and waits until the guest agent answers
 * or a marker shows on the serial console.  Then everything it created is
 * removed, on every path.  The result is kept as the backup's "last drill"
 * in REPO/DOMAIN/drills.json (one entry per backup id), never in the
 * manifest:
 *
 *   {"version": 1, "drills": [{"backup": ID, "result": "booted"|"failed",
 *     "method": "agent"|"marker", "start": UNIX, "seconds": S,
 *     "message": TEXT|null}, ...]}
 */
#ifndef VCKPT_DRILL_H
#define VCKPT_DRILL_H

#include <stdbool.h>
#include <stdint.h>
#include <libvirt/libvirt.h>

struct vk_repo;

/* The file of the drills in the domain directory. */
#define VK_DRILLS_FILE "drills.json"

struct vk_drill_request {
  const char *repo_dir, *domain;
  const char *at;          /* backup id or checkpoint name; NULL: the latest */
  const char *marker;      /* wait for this text on the console instead of the agent */
  const char *tmpdir;      /* where the private directory goes; NULL: $TMPDIR, else /var/tmp */
  int timeout;             /* seconds */
};

/* The last drill of one backup. */
struct vk_drill_record {
  char *backup;
  bool ok;
  char *method;            /* "agent" or "marker" */
  long long start;
  double seconds;
  char *message;           /* why it failed, or NULL */
};
void vk_drill_records_free(struct vk_drill_record *r, size_t n);

/* Run a drill of the backup REQ->at of REQ->domain (the repository lock
 * held shared meanwhile, so no prune or rewrite removes its files).  The
 * result is recorded (a read-only repository: a warning) and returned in
 * *OUT (*OUT->ok false: the guest did not answer in time, or stopped;
 * reported as VK_EXIT_FAILURE).  Returns 0 when the guest booted, -1
 * otherwise (VK_EXIT_INTERRUPTED after a stop signal, nothing recorded).
 */
int vk_drill(virConnectPtr conn, const struct vk_drill_request *req,
             struct vk_drill_record *out);

/* The drills recorded for the domain of REPO (any order); a missing file
 * is none.  A file that does not parse is a warning and none.
 */
int vk_drill_load(const struct vk_repo *repo, struct vk_drill_record **out, size_t *n);

#endif
