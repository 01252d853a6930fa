/* vckpt - verify: every backup of a repository checked, reading only
 * (lib/verify.c).
 */
#ifndef VCKPT_VERIFY_H
#define VCKPT_VERIFY_H

#include <stddef.h>

#include "validate.h"

/* Check every backup of DOMAIN, reading only (the repository lock taken
 * shared; a read-only repository works): each file a regular, readable
 * file of the recorded size and checksum, qcow2 chain links and virtual
 * sizes, qemu-img check of each file alone; files and chain directories
 * the manifest does not know, and chains without a manifest.  Each problem
 * is a finding in REP (the validator's report type); *BACKUPS and *FILES
 * count what was checked.  Returns 0 (REP->errors may be > 0) or -1.
 */
int vk_verify(const char *repo_dir, const char *domain, struct vk_report *rep,
              size_t *backups, size_t *files);

#endif
