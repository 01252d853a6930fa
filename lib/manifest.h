/* vckpt - the manifest: what the repository holds for one domain.
 *
 * REPO/DOMAIN/manifest.xml lists the committed backups, oldest first; it
 * is validated against xml/manifest.rng (compiled in, schema.h) and then
 * against the rules the schema cannot express (vk_manifest_check_backup):
 * file names are exactly those derived from the chain, backup id and disk
 * target, so no name leads outside the repository, and every backup's
 * links to its parent hold.
 */
#ifndef VCKPT_MANIFEST_H
#define VCKPT_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libxml/relaxng.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include "checksum.h"
#include "retention.h"

/* The largest manifest or journal read. */
#define VK_MANIFEST_MAX (64 * 1024 * 1024)

enum vk_level { VK_LEVEL_FULL, VK_LEVEL_INCREMENTAL, VK_LEVEL_DIFFERENTIAL };

/* One disk file of a backup. */
struct vk_backup_disk {
  char *target;          /* vda */
  char *file;            /* relative to the domain directory: "CHAIN/ID.vda.qcow2" */
  char *backing;         /* relative path of the file this one is stacked on, or NULL
                            (a full backup, or a disk a non-full backup copied whole);
                            both are in CHAIN/, so the overlay records its base name */
  uint64_t virtual_size; /* set by the caller before vk_repo_commit */
  uint64_t bytes;        /* bytes allocated by the file after the backup; set by the caller */
  char *checksum;        /* hex checksum of the whole file, set by vk_repo_commit */
  enum vk_sum_type checksum_type;   /* its algorithm: sha256 in records written
                                       before XXH3-128 was added, xxh3-128 since */
  uint64_t file_size;    /* st_size of the file, set by vk_repo_commit; 0 in
                            manifests written before vckpt recorded it */
  /* The guest data the file holds in its own clusters (compressed or not:
   * vk_image_data_bytes), set by vk_repo_seal_disk; the compression ratio
   * is BYTES against it.  Not in records written before vckpt recorded it
   * (HAS_GUEST_BYTES false).
   */
  uint64_t guest_bytes;
  bool has_guest_bytes;
};

/* A file of host state a backup keeps besides its disks (lib/state.h):
 * FILE is NULL when the domain had none.
 */
struct vk_state_file {
  char *file;            /* relative: "CHAIN/ID.nvram.fd", "CHAIN/ID.tpm2-00.permall" */
  uint64_t size;
  char *checksum;        /* hex, of algorithm CHECKSUM_TYPE (as for a disk) */
  enum vk_sum_type checksum_type;
};
/* Whether a backup's file systems were frozen (quiesce.h) at its point in
 * time: not recorded (older vckpt), no, yes.
 */
enum vk_quiesced { VK_QUIESCED_UNKNOWN, VK_QUIESCED_NO, VK_QUIESCED_YES };

/* The differential base of a full backup that prune made of a later point
 * (prune.h): the checkpoint of the expired full backup it was merged from
 * (or that one's own base).  It was created before this backup's point in
 * time and its bitmaps have recorded every write since, a superset of what
 * changed since this backup: differential backups of the chain are taken
 * from it, as this backup's own checkpoint is gone (checkpoints follow the
 * repository).  CHECKPOINT is NULL when there is none.
 */
struct vk_diff_base {
  char *checkpoint;
  char *identity;        /* the identity it was created with */
  char *record;          /* its saved XML: "CHAIN/ID.checkpoint.xml" of the expired
                            backup, kept in the chain directory */
};

/* One backup: a full backup starts a chain, the others stack on PARENT. */
struct vk_backup {
  char *id, *chain;
  enum vk_level level;
  char *checkpoint;      /* checkpoint created by this backup */
  char *since;           /* checkpoint the changes are relative to (PARENT's); NULL for full */
  char *parent;          /* id of the backup this one stacks on; NULL for full */
  long long start, end;  /* unix times; END is set by vk_repo_commit if 0 */
  size_t nr_disks;
  struct vk_backup_disk *disks;
  char *domain_xml, *checkpoint_xml;   /* relative file names */
  char *note;            /* why (e.g. --auto fell back to full), or NULL; the
                            caller may set it before vk_repo_commit */
  char *identity;        /* description of CHECKPOINT as created, or NULL
                            (backups made before vckpt recorded it) */
  struct vk_state_file nvram, tpm;   /* UEFI variables, swtpm state (state.h) */
  enum vk_quiesced quiesced;   /* attribute quiesced="yes|no", optional */
  char *host, *host_uri;       /* the hypervisor's host name and the URI of the
                                  connection (vk_virt_host), or NULL: older
                                  backups, or not known */
  struct vk_diff_base base;    /* full backups made by prune only */
};

/* A checkpoint vckpt created whose backup is gone but which could not be
 * deleted yet (see prune.h): its name and the identity it was created with.
 */
struct vk_retired {
  char *checkpoint, *identity;
};

/* What the repository holds for one domain. */
struct vk_manifest {
  char *domain;
  char *uuid;            /* NULL until a backup recorded it */
  /* The backups are copies of another repository's (copy.h): their
   * checkpoints are that repository's, and prune here never deletes one.
   */
  bool second_copy;
  size_t nr_backups;
  struct vk_backup *backups;   /* oldest first */
  size_t nr_retired;
  struct vk_retired *retired;
};
/* Append a retired checkpoint to M. */
void vk_manifest_add_retired(struct vk_manifest *m, const char *checkpoint,
                             const char *identity);

/* "full", "incremental" or "differential". */
const char *vk_level_name(enum vk_level level);
/* The prefix of backup ids of LEVEL: "full", "inc" or "diff". */
const char *vk_level_prefix(enum vk_level level);

/* Free the strings and disks of a backup, not the struct. */
void vk_backup_clear(struct vk_backup *b);
/* Free a heap-allocated backup (NULL is fine). */
void vk_backup_free(struct vk_backup *b);
/* Deep copy of SRC into DST. */
void vk_backup_copy(struct vk_backup *dst, const struct vk_backup *src);
/* The checkpoint differential backups stacked on full backup FULL are
 * taken from: its differential base when it has one, else its own
 * checkpoint.  *IDENTITY (may be NULL) and *RECORD (the relative name of
 * its saved XML) are set when the arguments are not NULL.
 */
const char *vk_backup_diff_since(const struct vk_backup *full, const char **identity,
                                 const char **record);
/* The disk TARGET of backup B, or NULL. */
const struct vk_backup_disk *vk_backup_find_disk(const struct vk_backup *b, const char *target);
/* Name backup B (its level, start time, disks' targets and, unless full,
 * its chain set) for attempt N (1, 2...): its id ("full-", "inc-" or
 * "diff-" and the UTC start time, "-N" from the second attempt on), a
 * full backup's chain (the same time), and its files (domain_xml,
 * checkpoint_xml, each disk's file).  A disk of a non-full backup stacked
 * on P gets P's file of its target as its backing file unless WHOLE
 * (NULL-terminated, or NULL) lists its target.  The one derivation of a
 * backup's names: vk_repo_begin's and the dry run's (vk_repo_names).
 */
void vk_backup_name(struct vk_backup *b, int n, const struct vk_backup *p, char *const *whole);
/* The name of the disk file of TARGET of backup ID in CHAIN: "CHAIN/ID.TARGET.qcow2". */
char *vk_backup_disk_file(const char *chain, const char *id, const char *target);

/* The name of a state file of backup ID in CHAIN: "CHAIN/ID.nvram.fd"
 * (TPM false) or "CHAIN/ID.tpm2-00.permall" (TPM true).
 */
char *vk_backup_state_name(const char *chain, const char *id, bool tpm);

/* The largest revision of a disk file (vk_backup_disk_file_at). */
#define VK_MAX_REV 9999
/* The name of revision REV of that file: REV 0 is vk_backup_disk_file's
 * name, REV N >= 1 "CHAIN/ID-rN.TARGET.qcow2" (written by prune, which
 * never rewrites a file a committed backup uses in place).
 */
char *vk_backup_disk_file_at(const char *chain, const char *id, const char *target, unsigned rev);
/* The revision of disk D's file of backup B: N >= 1 when its name is
 * revision N's, 0 otherwise.
 */
unsigned vk_backup_disk_file_rev(const struct vk_backup *b, const struct vk_backup_disk *d);

/* Free the contents of M, not the struct. */
void vk_manifest_clear(struct vk_manifest *m);
/* The backup ID among the first UPTO backups of M, or NULL. */
const struct vk_backup *vk_manifest_find_id(const struct vk_manifest *m, size_t upto,
                                            const char *id);
/* Whether RELATIVE is a file of a committed backup. */
bool vk_manifest_has_file(const struct vk_manifest *m, const char *relative);
/* Whether CHAIN is the chain directory of a committed backup. */
bool vk_manifest_has_chain(const struct vk_manifest *m, const char *chain);
/* The verdict on the time recorded for each backup of M (vk_times_check),
 * the clock saying NOW: an array of M->nr_backups entries (free it), or
 * NULL when M has no backup; *WRONG gets how many cannot be right.
 */
struct vk_time_check *vk_manifest_check_times(const struct vk_manifest *m, long long now,
                                              size_t *wrong);
/* What is wrong with the time of backup I of M (C: its verdict), for
 * people: "backup ID: its recorded time, T, is later than ...: the clock
 * was ahead when it was made, or is behind now".
 */
char *vk_manifest_time_fault(const struct vk_manifest *m, size_t i,
                             const struct vk_time_check *c, long long now);
/* What to do about a backup whose time cannot be right. */
#define VK_TIME_FAULT_FIX "check the host's clock (timedatectl; hwclock --systohc if the " \
  "hardware clock is wrong); prune places this backup by the order of the backups and " \
  "keeps it while a rule could keep it at some time it may have"
/* Check what the schema cannot (see above) for backup B, whose parent must
 * be among the first UPTO backups of M; PATH names the file in messages.
 */
int vk_manifest_check_backup(const char *path, const struct vk_manifest *m, size_t upto,
                             const struct vk_backup *b);

/* Validate DOC (the file PATH, or a document we generated when INTERNAL)
 * against the manifest schema, loaded into *SCHEMA on first use (free it
 * with xmlRelaxNGFree).
 */
int vk_manifest_validate(xmlRelaxNGPtr *schema, xmlDocPtr doc, const char *path, bool internal);
/* Read NAME in DIRFD (PATH names it), which must be a regular file whose
 * root element is ROOT, of format version 1, valid against the schema;
 * *DOC is NULL when the file does not exist.
 */
int vk_manifest_load_doc(int dirfd, const char *name, const char *path, const char *root,
                         xmlRelaxNGPtr *schema, xmlDocPtr *doc);
/* The same for the text TEXT of such a file, read by the caller. */
int vk_manifest_doc_from_text(const char *text, const char *path, const char *root,
                              xmlRelaxNGPtr *schema, xmlDocPtr *doc);
/* Read TEXT, the manifest of DOMAIN kept elsewhere (PATH names it: a copy
 * in a restic snapshot), into M as the repository reads its own: parsed,
 * of a known version, valid against the schema, every backup checked.
 */
int vk_manifest_from_text(const char *text, const char *path, const char *domain,
                          struct vk_manifest *m);
/* Read a validated <backup> element NODE into B. */
int vk_manifest_parse_backup(xmlXPathContextPtr ctx, xmlNodePtr node, const char *path,
                             struct vk_backup *b);
/* Read a validated <manifest> DOC of DOMAIN into M (M->domain set by the
 * caller), checking every backup.
 */
int vk_manifest_parse(xmlDocPtr doc, const char *path, const char *domain, struct vk_manifest *m);

/* Add M's <domain> element to ROOT. */
void vk_manifest_add_domain(xmlNodePtr root, const struct vk_manifest *m);
/* Add backup B to PARENT; COMMITTED adds what only the manifest has (end, sums). */
void vk_manifest_add_backup(xmlNodePtr parent, const struct vk_backup *b, bool committed);
/* A <manifest> document: the backups of M, then EXTRA if given. */
xmlDocPtr vk_manifest_build(const struct vk_manifest *m, const struct vk_backup *extra);

#endif
