/* vckpt - the journal of a repository transaction (REPO/DOMAIN/pending.xml).
 *
 * A transaction writes its journal before it changes anything, commits by
 * writing the manifest, and removes the journal last.  The journal names
 *   - its KIND: a backup (the first kind), a retention merge (prune.h:
 *     expired points merged into the kept ones, in one transaction), a
 *     repair, a copy (copy.h: points of another repository added, in one
 *     transaction);
 *   - its commit mark: the backup whose presence in the manifest
 *     (COMMIT_LISTED) or absence means the transaction committed;
 *   - its steps: each file or chain directory it creates, and each it
 *     removes once committed.
 * A journal found by the next run is rolled back (what was created is
 * removed) while the mark says not committed, and finished (what was to be
 * removed is removed) once it does.  A file or chain a committed backup of
 * the manifest uses is never removed either way.  Journals of vckpt before
 * version 2 (a backup's alone) are read as a backup with its steps derived
 * from its file names.
 *
 * The journal of an image operation (imageop.h), an overlay or commit of a
 * shut-off domain's disks kept outside any repository, is built and read
 * here too (vk_imageop_journal_*), valid against the same schema.
 */
#ifndef VCKPT_JOURNAL_H
#define VCKPT_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <libxml/tree.h>

#include "manifest.h"

enum vk_txn_kind { VK_TXN_BACKUP, VK_TXN_MERGE, VK_TXN_REPAIR, VK_TXN_COPY };
enum vk_step_action { VK_STEP_CREATE, VK_STEP_REMOVE };
enum vk_step_type { VK_STEP_FILE, VK_STEP_DIRECTORY };

/* One file ("CHAIN/NAME") or chain directory ("CHAIN") of a transaction. */
struct vk_journal_step {
  enum vk_step_action action;
  enum vk_step_type type;
  char *name;             /* relative to the domain directory */
};

struct vk_journal {
  enum vk_txn_kind kind;
  char *commit_id;        /* the backup id of the commit mark */
  bool commit_listed;     /* committed once the manifest lists COMMIT_ID
                             (else: once it no longer does) */
  struct vk_backup *backup;   /* VK_TXN_BACKUP: the backup being made */
  size_t nr_steps;
  struct vk_journal_step *steps;   /* in the order they are taken */
};

/* "backup", "merge", "repair", "copy". */
const char *vk_txn_kind_name(enum vk_txn_kind kind);
/* Append a step to J. */
void vk_journal_add_step(struct vk_journal *j, enum vk_step_action action,
                         enum vk_step_type type, const char *name);
/* Fill J (empty) with the transaction of making backup B: committed once
 * the manifest lists B; creates B's chain directory (a full backup), its
 * disk files and its two XML files.  J keeps a copy of B.
 */
void vk_journal_for_backup(struct vk_journal *j, const struct vk_backup *b);
/* The journal steps of B's state files (state.h): ACTION CREATE (a backup
 * being made) lists every name it may write, REMOVE the files B recorded.
 */
void vk_journal_state_steps(struct vk_journal *j, const struct vk_backup *b,
                            enum vk_step_action action);

/* Free the contents of J, not the struct. */
void vk_journal_clear(struct vk_journal *j);

/* The <pending> document of J for the domain of M (version 2). */
xmlDocPtr vk_journal_build(const struct vk_manifest *m, const struct vk_journal *j);
/* Read a validated <pending> DOC (version 1 or 2; PATH names it) into J
 * (empty).  A backup's journal must hold the backup, and its steps must
 * be exactly that backup's.
 */
int vk_journal_parse(xmlDocPtr doc, const char *path, struct vk_journal *j);
/* Whether J committed: what the manifest M says about its mark. */
bool vk_journal_committed(const struct vk_journal *j, const struct vk_manifest *m);
/* Undo J's steps in the domain directory DIRFD (DIR in messages): remove
 * what it created, newest first, with our temporary files in the
 * directories it wrote to; never a file or chain M uses.  Returns the
 * number of steps that could not be undone (each warned about): the
 * journal must then be kept, so that the next run tries again.
 */
int vk_journal_roll_back(const struct vk_journal *j, int dirfd, const char *dir,
                          const struct vk_manifest *m);
/* Finish committed J: remove what it was to remove (never a file or chain
 * M uses).  Returns the number of steps that failed (each warned about).
 */
int vk_journal_roll_forward(const struct vk_journal *j, int dirfd, const char *dir,
                             const struct vk_manifest *m);

/* ---- the journal of an image operation ----
 *
 * STATE/imageop-UUID.xml (imageop.h): <imageop kind uuid [domain]> with a
 * <disk> of attributes per disk (xml/manifest.rng).  Every vckpt with
 * image operations wrote this one format (it has no version), so a journal
 * an older vckpt left is read and finished as it is.
 */
enum vk_imageop_kind { VK_IMAGEOP_OVERLAY, VK_IMAGEOP_COMMIT };

/* What an image operation does to one disk. */
struct vk_imageop_journal_disk {
  char *target;
  char *base;    /* overlay: the image under the overlay; commit: the base */
  char *image;   /* overlay: the overlay; commit: the top committed */
  char *tmp;     /* overlay: its temporary name */
  char *active;  /* commit: the disk's source before */
  char *above;   /* commit: the image above the top, or NULL */
};

struct vk_imageop_journal {
  enum vk_imageop_kind kind;
  char *domain;  /* the domain's name when written (not read back) */
  char *uuid;
  size_t n;
  struct vk_imageop_journal_disk *d;
};

/* "overlay", "commit". */
const char *vk_imageop_kind_name(enum vk_imageop_kind kind);
/* Free the contents of J, not the struct. */
void vk_imageop_journal_clear(struct vk_imageop_journal *j);
/* The <imageop> document of J. */
xmlDocPtr vk_imageop_journal_build(const struct vk_imageop_journal *j);
/* Read a validated <imageop> DOC (PATH names it) of the domain UUID into J
 * (empty): 0, or -1 after reporting (a journal of another domain, or one
 * naming an image by a relative path, even where the schema was
 * overridden).
 */
int vk_imageop_journal_parse(xmlDocPtr doc, const char *path, const char *uuid,
                             struct vk_imageop_journal *j);

#endif
