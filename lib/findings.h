/* vckpt - the catalogue of findings: every code the validator, the backup
 * preflight and verify can report, with its usual severity, a one-line
 * summary of what it means, and a machine-readable kind of fix, so that a
 * program (a future repair command) acts on fix kinds, not on prose.
 *
 * Adding a finding: add a row to the table in findings.c (codes sorted),
 * report it with vk_report_add(), list it in man/vckpt.pod if it adds a fix
 * kind; tests/test-findings-catalogue.sh fails when a code used in lib/ is
 * missing from the table or a row is used nowhere.
 */
#ifndef VCKPT_FINDINGS_H
#define VCKPT_FINDINGS_H

#include <stddef.h>

enum vk_severity { VK_SEV_ERROR, VK_SEV_WARNING, VK_SEV_INFO };

/* What fixes a finding.  A closed set: names are stable (--json "fix"). */
enum vk_fix {
  VK_FIX_NONE,                       /* "none": nothing to do, or nothing vckpt knows */
  VK_FIX_NEW_FULL_CHAIN,             /* "new-full-chain": take a full backup */
  VK_FIX_DELETE_CHECKPOINT_METADATA, /* "delete-checkpoint-metadata" */
  VK_FIX_REMOVE_BITMAP,              /* "remove-bitmap": qemu-img bitmap --remove */
  VK_FIX_REDEFINE_CHECKPOINT,        /* "redefine-checkpoint": restore its metadata */
  VK_FIX_EXCLUDE_DISK,               /* "exclude-disk": or accept a whole copy */
  VK_FIX_WAIT_FOR_JOB,               /* "wait-for-job": or abort the job */
  VK_FIX_FREE_SPACE,                 /* "free-space": or another repository */
  VK_FIX_FIX_PERMISSIONS,            /* "fix-permissions" */
  VK_FIX_RESTORE_FILE,               /* "restore-file": put a missing file back */
  VK_FIX_REPAIR_IMAGE,               /* "repair-image": qemu-img check -r / rebase */
  VK_FIX_CHOOSE_NAME,                /* "choose-name": another checkpoint name */
  VK_FIX_STOP_PROCESS,               /* "stop-process": the one holding the image */
  VK_FIX_INSPECT,                    /* "inspect": a person must look */
  VK_FIX_FINISH_OPERATION,           /* "finish-operation": an interrupted overlay/commit */
  VK_FIX_COUNT_
};

/* One row of the catalogue. */
struct vk_finding_def {
  const char *code;          /* stable identifier, e.g. "bitmap-inconsistent" */
  enum vk_severity severity; /* the usual severity (a report may lower it) */
  enum vk_fix fix;
  const char *summary;       /* what the code means, one line */
};

/* The catalogue, sorted by code, and its length. */
extern const struct vk_finding_def vk_findings[];
extern const size_t vk_nr_findings;

/* The row of CODE, or NULL. */
const struct vk_finding_def *vk_finding_lookup(const char *code);
/* "new-full-chain"... for a fix kind. */
const char *vk_fix_name(enum vk_fix fix);
/* "error", "warning", "info". */
const char *vk_severity_name(enum vk_severity s);

#endif
