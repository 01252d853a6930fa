/* vckpt - copy: a domain's backups into another vckpt repository (DEST),
 * a second copy with its own retention (issue 22).
 *
 * DEST is a repository of the same layout, so every command works on it.
 * A copy holds SRC's lock shared (a committed state, never a pending
 * backup) and DEST's exclusively, and adds to DEST, in one transaction
 * (journal kind copy, lib/journal.h), the points of SRC that are newer
 * than everything DEST holds of SRC's and that DEST lacks; older points
 * DEST lacks were pruned there (or never wanted) and stay away.  Each
 * point goes over as it is, on the same point (backup id) in DEST:
 *   - a file whose backing file in DEST has the name it has in SRC (a
 *     full backup's files, or a point stacked on a parent both sides
 *     hold alike) is copied byte for byte;
 *   - a file stacked on a parent whose file DEST names otherwise (prune
 *     rewrote it on one side: the same point, other bytes) is copied and
 *     its backing name changed to DEST's (qemu-img rebase -u: the header
 *     alone; every byte after the first cluster is checked to be SRC's);
 *   - a point whose parent DEST lacks (prunes on either side) is written
 *     as a standalone full backup, as prune promotes a point: qemu-img
 *     convert of its SRC chain into a new revision of its file
 *     ("CHAIN/ID-rN.TARGET.qcow2"), zstd kept when SRC's file had it, the
 *     result compared with the SRC chain (qemu-img compare) after its
 *     pages left the page cache.
 * Every SRC file read is first checked against the checksum SRC's
 * manifest records (a file copied whole is hashed while it is copied):
 * a mismatch refuses the whole copy (VK_EXIT_FAILURE) and DEST stays as
 * it was.  Every file written is read back from the disk (its pages
 * dropped first) and checked.  DEST's manifest is written last; a run
 * killed or failed at any point leaves DEST as it was, and the next one
 * does the work.
 *
 * Before that, the files of DEST's points are looked at (present, the
 * recorded size; with VERIFY their checksums too): one that is damaged is
 * put back from SRC where SRC holds the same bytes (the same record), in
 * place (repo.h: vk_repo_replace_begin); the others are reported
 * (VK_EXIT_FAILURE, once the copy is done).
 *
 * The outcome is recorded in SRC's copies.json (copies.h).
 */
#ifndef VCKPT_COPY_H
#define VCKPT_COPY_H

#include <stdbool.h>
#include <stdint.h>

#include "flow.h"
#include "manifest.h"

/* What the copy did with one point of SRC. */
enum vk_copy_action {
  VK_COPY_PRESENT,    /* DEST holds it already */
  VK_COPY_SKIPPED,    /* DEST lacks it, but holds a newer point: pruned there */
  VK_COPY_COPIED,     /* its files copied as they are */
  VK_COPY_STACKED,    /* copied; a file's backing name made DEST's */
  VK_COPY_PROMOTED,   /* DEST lacks its parent: written as a standalone full */
};

struct vk_copy_request {
  const char *src_repo, *dest_repo, *domain;
  bool verify;        /* hash every file of DEST's points */
  const struct vk_flow_cb *cb;
};

/* One point of SRC. */
struct vk_copy_point {
  char *id, *chain;
  enum vk_level level;            /* in SRC */
  long long start;
  enum vk_copy_action action;
  char *parent;                   /* VK_COPY_PROMOTED: the parent DEST lacks */
  uint64_t bytes;                 /* written into DEST */
};

struct vk_copy_result {
  char *dest;                     /* DEST/DOMAIN */
  size_t nr_points;
  struct vk_copy_point *points;   /* SRC's, oldest first */
  size_t copied;                  /* points added to DEST */
  char **repaired;                /* DEST's files put back from SRC (NULL-terminated) */
  uint64_t bytes;                 /* written into DEST */
  char *newest;                   /* DEST's newest point afterwards, or NULL */
};

/* Copy REQ->domain's backups from REQ->src_repo to REQ->dest_repo (made,
 * 0711, when missing).  OUT is filled as far as the copy got (free it with
 * vk_copy_result_clear).  0, or -1 (reported).
 */
int vk_copy(const struct vk_copy_request *req, struct vk_copy_result *out);
void vk_copy_result_clear(struct vk_copy_result *res);
/* "present", "skipped", "copied", "stacked", "promoted". */
const char *vk_copy_action_name(enum vk_copy_action a);

#endif
