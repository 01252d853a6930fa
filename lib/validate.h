/* vckpt - the preflight validator: before libvirt is called, decide
 * whether a checkpoint can serve an incremental backup, and say exactly why
 * not, from the qcow2 files themselves and libvirt's live view.
 */
#ifndef VCKPT_VALIDATE_H
#define VCKPT_VALIDATE_H

#include <stdbool.h>
#include <json-c/json.h>
#include <libvirt/libvirt.h>

#include "findings.h"

/* One finding: a stable code, where, what, and how to fix it. */
struct vk_finding {
  const char *code;        /* stable identifier, e.g. "bitmap-inconsistent" */
  enum vk_severity severity;
  char *disk, *image, *bitmap, *checkpoint;  /* each may be NULL */
  char *message;           /* plain language */
  char *action;            /* suggested fix */
  enum vk_fix fix;         /* kind of fix, from the catalogue (findings.h) */
  const char *summary;     /* what the code means, from the catalogue */
};

struct vk_report {
  char *domain;
  char *checkpoint;        /* the checkpoint validated, or NULL */
  bool running;
  size_t n, errors, warnings;
  struct vk_finding *f;
  /* Disks an incremental backup from CHECKPOINT copies whole (raw, not
   * tracked by the checkpoint, resized since): NULL-terminated, or NULL.
   * Their findings are warnings, since one job can copy some disks whole
   * and the others incrementally (per-disk backupmode).
   */
  char **whole;
};

struct vk_validate_opts {
  const char *checkpoint;  /* incremental base; NULL: the newest, if any */
  bool full;               /* a full backup: bitmap rules do not apply */
  char *const *disks;      /* disks to back up; NULL: every disk */
  const char *new_checkpoint; /* name the backup will create, or NULL */
};

/* Validate DOM; 0 with REP filled (errors may be > 0), or -1 when the
 * validation itself could not run (reported).
 */
int vk_validate(virDomainPtr dom, const struct vk_validate_opts *opts,
                struct vk_report *rep);
/* Add a finding (used by the backup preflight for its own checks).  CODE
 * is looked up in the catalogue (findings.h), which gives the finding its
 * fix kind and summary.
 */
void vk_report_add(struct vk_report *rep, const char *code, enum vk_severity sev,
                   const char *disk, const char *image, const char *bitmap,
                   const char *checkpoint, char *message, char *action);
void vk_report_clear(struct vk_report *rep);
/* Add DISK to REP->whole (once). */
void vk_report_whole(struct vk_report *rep, const char *disk);
/* The report as JSON. */
json_object *vk_report_json(const struct vk_report *rep);

#endif
