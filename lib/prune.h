/* vckpt - retention: prune a domain's backups by a policy (retention.h),
 * merging what expires into the points kept, and checkpoints that follow
 * the repository.
 *
 * Points are backups, not chains.  A point that expires is removed from
 * the manifest; its data still needed by a kept point above it is merged
 * into that point's files:
 *   - a kept point whose parent expires is rebased (qemu-img rebase, safe
 *     mode, on a copy) onto its nearest kept ancestor: the copy receives
 *     what the expired layers held and the ancestor does not;
 *   - a kept point none of whose ancestors is kept (its chain's full
 *     expires) is made standalone (rebased onto nothing) and becomes the
 *     chain's full backup; other such points of the chain stack on it;
 *     unless it is the newest, its differential base is the expired
 *     full's checkpoint (manifest.h: its own checkpoint is gone);
 *   - a kept point whose parent's file was rewritten is copied and its
 *     backing name updated (the data are the same: qemu-img rebase -u).
 * A rewritten file is a new file, "CHAIN/ID-rN.TARGET.qcow2", never a
 * file a committed backup uses changed in place; the merge is one
 * transaction (journal kind merge, lib/journal.h).  The data copied into
 * a new file are first checked against the manifest's checksum.  The
 * manifest's last backup (the one an incremental backup stacks on) is
 * always kept.
 */
#ifndef VCKPT_PRUNE_H
#define VCKPT_PRUNE_H

#include <stdbool.h>
#include <stdint.h>
#include <libvirt/libvirt.h>

#include "flow.h"
#include "manifest.h"
#include "retention.h"

struct vk_prune_request {
  const char *repo_dir, *domain;
  struct vk_retention policy;
  bool dry_run;
  /* The domain's connection: checkpoints vckpt created for backups that
   * no longer need them are deleted (vk_checkpoints_follow).  NULL, or a
   * domain that is not defined there: no checkpoint is touched.
   */
  virConnectPtr conn;
  const struct vk_flow_cb *cb;
};

/* One point (backup) of the manifest before the prune. */
struct vk_prune_point {
  char *id, *chain;
  enum vk_level level;
  long long start;
  unsigned reasons;     /* VK_KEEP_*; 0: expires */
  char *merged_into;    /* expires: the kept point its data went into, or NULL */
  char *new_parent;     /* kept: its parent after the prune (NULL: a full) */
  bool promoted;        /* kept: becomes its chain's full backup */
  enum vk_time_fault time_fault;   /* its time cannot be right (retention.h) */
};

/* One disk file written by the prune. */
struct vk_prune_file {
  char *id, *target;    /* the kept point and disk */
  char *from, *to;      /* its file before and after (relative) */
  char *onto;           /* its backing file after, or NULL (standalone) */
  bool header_only;     /* only the backing file's name changes */
  bool compressed;      /* merged into zstd-compressed clusters again (qemu-img
                           convert -c after the rebase), as FROM's were */
  uint64_t bytes;       /* at most this many bytes written */
};

struct vk_prune_result {
  size_t nr_points;
  struct vk_prune_point *points;     /* manifest order, oldest first */
  size_t nr_files;
  struct vk_prune_file *files;
  uint64_t bytes;                    /* at most this many bytes written */
  size_t kept, expired;
  char **checkpoints;                /* deleted (dry run: to delete), NULL-terminated */
  bool checkpoints_checked;          /* the domain was found and its checkpoints read */
};

/* Prune REQ->domain's backups in REQ->repo_dir by REQ->policy (which must
 * have a rule): decide, delete the checkpoints no longer needed, merge.
 * With DRY_RUN only decide (and say which checkpoints would go).  OUT is
 * filled on success (free with vk_prune_result_clear).
 */
int vk_prune(const struct vk_prune_request *req, struct vk_prune_result *out);
/* Fill in what the command line left out of the prune request REQ from
 * POL, a domain's policy (policy.h): the repository (neither: the
 * default, vk_default_repo) and, unless RULES_GIVEN (any --keep-* replaces
 * the file's rules as a whole), the retention rules.  REQ may then point
 * into POL's policy file, which must outlive it.
 */
struct vk_policy;
void vk_prune_apply_policy(struct vk_prune_request *req, bool rules_given,
                           const struct vk_policy *pol);
void vk_prune_result_clear(struct vk_prune_result *res);

#endif
