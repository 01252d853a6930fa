/* vckpt - host state a backup keeps besides the disks: the UEFI variables
 * file (<os><nvram>) and the swtpm TPM 2 state of <tpm><backend
 * type='emulator'>.
 *
 * Each is a copy in the backup's chain directory (CHAIN/ID.nvram.fd,
 * CHAIN/ID.tpm2-00.permall, mode 0600), recorded in the manifest with its
 * size and checksum (<state>), checked by verify and restore.  A file is
 * read until two reads in a row give the same bytes and its size and
 * times did not change meanwhile (a running guest rarely writes them); a
 * file that keeps changing fails the backup, which is rolled back.
 * restore --define gives the new domain its own copies: the variables
 * file as NEW_VARS.fd next to the restored disks, the TPM state in the
 * new domain's swtpm directory before its first start.  A domain without
 * them gets nothing new.
 */
#ifndef VCKPT_STATE_H
#define VCKPT_STATE_H

#include <stdbool.h>
#include <libvirt/libvirt.h>
#include <libxml/tree.h>

#include "manifest.h"
#include "repo.h"
#include "validate.h"

/* The directory libvirt keeps swtpm state in: $VCKPT_SWTPM_DIR (tests),
 * else /var/lib/libvirt/swtpm; a domain's is DIR/UUID/tpm2/.
 */
const char *vk_state_swtpm_dir(void);

/* Copy the state of the domain DOM (its XML DOMAIN_XML, as the backup
 * saved it) into backup B being made in REPO and record it in B.  0, or
 * -1 (reported; the caller rolls the backup back).  The state of a domain
 * on REMOTE_HOST (non-NULL) is on that host: a warning says it is not
 * kept.
 */
int vk_state_store(struct vk_repo *repo, struct vk_backup *b, virDomainPtr dom,
                   const char *domain_xml, const char *remote_host);

/* Verify B's state files (present, regular, recorded size and checksum):
 * findings into REP; *FILES counts the files checked.
 */
void vk_state_verify(struct vk_repo *repo, const struct vk_backup *b, struct vk_report *rep,
                     size_t *files);

/* restore --define NAME, before the domain is defined: when the backed-up
 * XML DOC has <os><nvram>, the copy of B (checked unless !VERIFY) is
 * written as TOFD/NAME_VARS.fd (ABSDIR names TOFD; never replacing a file)
 * and <nvram> points at it; a backup without a copy drops <nvram> with a
 * warning.  0 or -1 (reported).
 */
int vk_state_restore_nvram(struct vk_repo *repo, const struct vk_backup *b, xmlDocPtr doc,
                           int tofd, const char *absdir, const char *name, bool verify);
/* After the domain NAME was defined: B's TPM state copied into its swtpm
 * directory (made from its new UUID), before any start.  On failure the
 * new domain is undefined again.  0 or -1 (reported).
 */
int vk_state_restore_tpm(virConnectPtr conn, struct vk_repo *repo, const struct vk_backup *b,
                         const char *name, bool verify);
/* Undo vk_state_restore_nvram after a later failure: the file it wrote goes. */
void vk_state_restore_undo(int tofd);

#endif
