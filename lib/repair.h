/* vckpt - repair: act on the validator's findings by their fix kinds.
 *
 * The plan is built from the findings of vk_validate run from every
 * checkpoint of the domain (so that a broken bitmap of an older
 * checkpoint is seen too), by fix kind, never by message text:
 *
 *   redefine-checkpoint   a bitmap no checkpoint owns, or (with a
 *                         repository) a checkpoint its next backups need
 *                         that libvirt lost: redefine the checkpoint from
 *                         the repository's saved XML when every bitmap it
 *                         names is intact (running: libvirt checks QEMU's),
 *                         with the parent libvirt would now report when the
 *                         recorded one is gone; else an orphan bitmap is
 *                         removed (remove-bitmap)
 *   remove-bitmap         qemu-img bitmap --remove (shut-off domain only)
 *   new-full-chain        on a checkpoint (its bitmap is inconsistent,
 *                         disabled, missing, has a gap): the checkpoint
 *                         can never serve an incremental again; it is
 *                         deleted, its bitmaps first, and the next backup
 *                         is a new full chain if it was the one to stack on
 *   delete-checkpoint-metadata  a checkpoint whose bitmaps are gone: its
 *                         metadata is deleted (libvirt, METADATA_ONLY)
 *
 * Checkpoints that depend on a deleted one: none.  In libvirt 9.0 every
 * checkpoint's bitmap records from its creation on, and an incremental
 * backup from a checkpoint reads that checkpoint's bitmap alone; libvirt
 * re-parents the children of a checkpoint deleted with METADATA_ONLY.  So
 * only the broken checkpoint goes (tests/test-repair-checkpoint-bitmap-missing.sh
 * backs up incrementally from the child of a deleted checkpoint).
 *
 * The steps run in a fixed order: pre_steps[] in repair.c (finish
 * interrupted image operations), then redefine, then remove bitmaps, then
 * delete checkpoints.  While a job runs on the domain every step is
 * refused.  Every step is idempotent and the plan is made
 * again from the images and libvirt on each run, so a run killed between
 * two steps leaves a state that the validator describes and the next
 * repair finishes.
 *
 * On a running domain, image surgery is refused: QEMU holds the image and
 * libvirt has no API to remove a bitmap that no checkpoint owns.  The steps
 * that are safe go on: redefining a checkpoint and deleting one through
 * libvirt (which removes its bitmaps through QEMU).
 */
#ifndef VCKPT_REPAIR_H
#define VCKPT_REPAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>
#include <libvirt/libvirt.h>

#include "flow.h"

/* What a step does. */
enum vk_repair_action {
  VK_REPAIR_RECOVER,            /* "finish-image-operation": an interrupted overlay/commit */
  VK_REPAIR_REDEFINE,           /* "redefine-checkpoint": from the repository's XML */
  VK_REPAIR_REMOVE_BITMAP,      /* "remove-bitmap": qemu-img bitmap --remove */
  VK_REPAIR_DELETE_CHECKPOINT,  /* "delete-checkpoint": libvirt deletes it and its
                                   bitmaps through QEMU (running domain) */
  VK_REPAIR_DELETE_METADATA,    /* "delete-checkpoint-metadata": METADATA_ONLY */
};

enum vk_repair_state {
  VK_REPAIR_PLANNED,   /* dry run */
  VK_REPAIR_DONE,
  VK_REPAIR_FAILED,
  VK_REPAIR_REFUSED,   /* unsafe now (running domain) */
};

/* One step of the plan. */
struct vk_repair_step {
  enum vk_repair_action action;
  const char *code;      /* the finding that asked for it (catalogue string) */
  char *disk, *image, *bitmap, *checkpoint;   /* each may be NULL */
  char *file;            /* redefine: the repository's checkpoint XML */
  char *parent;          /* redefine: the parent it gets (NULL: a root) */
  char *why;             /* plain language: why this step */
  enum vk_repair_state state;
  char *error;           /* failed or refused: why */
};

/* A finding repair does not act on (fix kind outside its set). */
struct vk_repair_left {
  const char *code;
  const char *fix;       /* its fix kind's name */
  char *disk, *checkpoint, *message;
};

struct vk_repair_plan {
  char *domain;
  bool running, dry_run;
  size_t n;
  struct vk_repair_step *s;
  size_t nr_left;
  struct vk_repair_left *left;
  bool need_full;        /* the next backup must start a new full chain */
  char *full_reason;     /* why (when NEED_FULL) */
  size_t done, failed, refused;
};

struct vk_repair_request {
  const char *repo_dir;  /* the repository holding saved checkpoint XML, or NULL */
  bool dry_run;          /* plan only, change nothing */
  const struct vk_flow_cb *cb;
};

/* Plan the repair of DOM and, unless a dry run, carry it out.  Returns 0
 * with OUT filled (steps may have failed or been refused: OUT's counts),
 * or -1 when no plan could be made (reported).
 */
int vk_repair(virConnectPtr conn, virDomainPtr dom, const struct vk_repair_request *req,
              struct vk_repair_plan *out);
void vk_repair_plan_clear(struct vk_repair_plan *p);
/* "remove-bitmap"... and "planned", "done"... */
const char *vk_repair_action_name(enum vk_repair_action a);
const char *vk_repair_state_name(enum vk_repair_state s);
/* The plan as JSON. */
json_object *vk_repair_json(const struct vk_repair_plan *p);

#endif
