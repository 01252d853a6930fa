/* vckpt - the backup repository.
 *
 * Layout under a repository directory REPO:
 *
 *   REPO/DOMAIN/manifest.xml     committed backups, oldest first (xml/manifest.rng)
 *   REPO/DOMAIN/pending.xml      journal of the transaction being made, if any
 *                                (a backup, or retention or repair: journal.h)
 *   REPO/DOMAIN/lock             flock(2) lock; holds the holder's pid, host,
 *                                start time and program name
 *   REPO/DOMAIN/CHAIN/           one directory per chain, started by a full backup
 *   REPO/DOMAIN/CHAIN/ID.TARGET.qcow2      disk files; incremental and
 *                                differential ones are qcow2 overlays whose
 *                                backing file is the parent's file of the
 *                                same disk, named relative to CHAIN/
 *   REPO/DOMAIN/CHAIN/ID-rN.TARGET.qcow2   revision N of a disk file, written by
 *                                prune (prune.h) instead of changing a file a
 *                                committed backup uses
 *   REPO/DOMAIN/CHAIN/ID.domain.xml        domain XML at backup time
 *   REPO/DOMAIN/CHAIN/ID.checkpoint.xml    the checkpoint created by the backup
 *
 * CHAIN is the UTC start time "20261122T030000Z", ID is "full-", "inc-" or
 * "diff-" and a UTC time; both get a "-N" suffix when needed to be unique.
 * Every file is written crash-safely (temporary file, fsync, rename, fsync
 * of the directory), so killing vckpt at any instant leaves a repository
 * that opens: the old or the new manifest, and a journal to roll back.
 * Everything that writes needs the repository opened with LOCK.
 *
 * The manifest and journal are validated against xml/manifest.rng, compiled
 * into the program (schema.h); $VCKPT_XMLDIR/manifest.rng, when that file
 * exists, overrides it for development.
 */
#ifndef VCKPT_REPO_H
#define VCKPT_REPO_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "checksum.h"
#include "manifest.h"

struct vk_journal;

struct vk_repo;

/* The repository directory: --repo (GIVEN), else $VCKPT_REPO, else
 * VK_VAR_DIR.
 */
const char *vk_default_repo(const char *given);

/* Open REPO/DOMAIN (creating REPO and REPO/DOMAIN, mode 0711, when CREATE),
 * taking the per-domain lock when LOCK: a busy lock is VK_EXIT_BUSY naming
 * the holder; a lock left by a killed process is taken over with a warning.
 * A missing domain directory without CREATE is VK_EXIT_NOT_FOUND; a manifest
 * that does not parse or validate is VK_EXIT_FAILURE.
 */
int vk_repo_open(const char *repo_dir, const char *domain, bool create, bool lock,
                 struct vk_repo **out);
/* Close the repository, releasing the lock.  A backup begun and neither
 * committed nor aborted keeps its journal, to be recovered by the next run.
 */
void vk_repo_close(struct vk_repo *r);
/* The committed backups.  Pointers into it stay valid until the next commit. */
const struct vk_manifest *vk_repo_manifest(const struct vk_repo *r);
/* The absolute path of REPO/DOMAIN, and of a file given relative to it,
 * and the descriptor of the domain directory (valid until vk_repo_close):
 * the repository's own (repo*.c, tests/test-layering.sh checks); everyone
 * else asks for what they want below ("Files of the repository").
 */
const char *vk_repo_dir(const struct vk_repo *r);
char *vk_repo_path(const struct vk_repo *r, const char *relative);
int vk_repo_dirfd(const struct vk_repo *r);

/* Refuse (VK_EXIT_PREFLIGHT) a repository made for another domain of the
 * same name; otherwise remember UUID, written by the next commit.
 */
int vk_repo_check_uuid(struct vk_repo *r, const char *uuid);

/* Give every disk file of the committed backups back to vckpt's user,
 * mode 0600: libvirt's DAC driver chowns the images of a domain's backing
 * chain to QEMU's user when it starts a domain on them (a drill, instant
 * recovery) and never gives the backing layers back.  A running QEMU keeps
 * the descriptors it opened.  The number of files changed; failures warn.
 */
int vk_repo_give_back(struct vk_repo *r);

/* Start a backup of TARGETS (NULL-terminated disk targets) that creates
 * CHECKPOINT: allocate its id, chain and file names and write the journal
 * before anything else (then create the chain directory of a full backup).
 * PARENT (from the look-ups below) is NULL for a full backup, the chain's
 * full backup for a differential one; SINCE, if given, must be PARENT's
 * checkpoint (B->since is set from PARENT either way).  Refused while a
 * journal from an interrupted run is pending (see vk_repo_recover).  WHOLE
 * (NULL-terminated, or NULL) lists the TARGETS a non-full backup copies whole
 * (raw disks, disks added or resized since PARENT): their files have no
 * backing file, and restore uses them alone.  IDENTITY, if not NULL, is the
 * description of the checkpoint the backup will create (vk_ckpt_new_identity),
 * recorded so that a rollback deletes that checkpoint and no other of the
 * same name.  *OUT
 * belongs to R and stays valid until vk_repo_close or the next vk_repo_begin.
 */
int vk_repo_begin(struct vk_repo *r, enum vk_level level, const char *checkpoint,
                  const char *since, const struct vk_backup *parent,
                  char *const *targets, char *const *whole, const char *identity,
                  struct vk_backup **out);
/* Write a file of backup B being made (its domain_xml or checkpoint_xml)
 * crash-safely; an existing file is never replaced.
 */
int vk_repo_write_file(struct vk_repo *r, const char *relative, const char *content);
/* Finish B: every file of B must exist; fsync the disk files and compute
 * their checksum (XXH3-128, VK_SUM_DEFAULT), append B to the manifest (crash-safe), remove the journal.
 */
int vk_repo_commit(struct vk_repo *r, struct vk_backup *b);
/* Give up B: remove its files, its new chain directory, then the journal.
 * -1 (reported) when some file could not be removed: the journal stays,
 * and the next run that opens the repository with LOCK finishes the job.
 */
int vk_repo_abort(struct vk_repo *r, struct vk_backup *b);

/* ---- retention's merge transaction (journal kind merge) ----
 * vk_repo_merge_begin writes journal J (built by the caller: the commit
 * mark is an expiring backup, unlisted once committed; CREATE steps for
 * the new files, REMOVE steps for what goes after the commit) before
 * anything is written; the caller then creates the new files in the chain
 * directories (vk_repo_dirfd), seals each (vk_repo_seal_disk), and
 * commits NEXT, the whole manifest after the merge, with
 * vk_repo_merge_commit: every backup of NEXT is checked as a loaded
 * manifest would be, NEXT is written crash-safely, then the steps' old
 * files go and the journal last.  vk_repo_merge_abort rolls back.  A run
 * killed anywhere is rolled back or finished by the next open with LOCK.
 */
int vk_repo_merge_begin(struct vk_repo *r, const struct vk_journal *j);
/* fsync disk file D->file (mode 0600) and record its checksum (of the
 * algorithm of new records, VK_SUM_DEFAULT) and size.
 */
int vk_repo_seal_disk(struct vk_repo *r, struct vk_backup_disk *d);
int vk_repo_merge_commit(struct vk_repo *r, struct vk_manifest *next, const struct vk_journal *j);
int vk_repo_merge_abort(struct vk_repo *r, const struct vk_journal *j);
/* Remove RELATIVE, a file of merge J made only on the way to another (a
 * CREATE step of J, never a file the manifest lists), before the commit:
 * 0, or -1 (reported).
 */
int vk_repo_merge_remove(struct vk_repo *r, const struct vk_journal *j, const char *relative);
/* ---- a copy from another repository (journal kind copy, copy.h) ----
 * vk_repo_copy_begin writes journal J (built by the caller: the commit
 * mark is the newest point copied, listed once committed; CREATE steps
 * for each chain directory, then each file, it makes) before anything is
 * written; the caller then makes the chain directories
 * (vk_repo_copy_chain) and the files (vk_repo_create_fd/_file), and
 * commits NEXT, the whole manifest with the new points appended, with
 * vk_repo_copy_commit: every backup of NEXT is checked as a loaded
 * manifest would be, the chain directories are fsync'd, NEXT is written
 * crash-safely, then the journal goes.  vk_repo_copy_abort rolls back.  A
 * run killed anywhere is rolled back or finished by the next open with
 * LOCK.
 */
int vk_repo_copy_begin(struct vk_repo *r, const struct vk_journal *j);
/* Make chain directory CHAIN when J creates it (a CREATE step) and it is
 * not there yet, and refuse (VK_EXIT_USAGE) one another user owns or may
 * write, like the repository's own directories: 0, or -1 (reported).
 */
int vk_repo_copy_chain(struct vk_repo *r, const struct vk_journal *j, const char *chain);
int vk_repo_copy_commit(struct vk_repo *r, struct vk_manifest *next, const struct vk_journal *j);
int vk_repo_copy_abort(struct vk_repo *r, const struct vk_journal *j);

/* Put back file RELATIVE of a committed backup, whose bytes no longer
 * match what the manifest records, from a good copy (copy.h's repair):
 * vk_repo_replace_begin makes a new temporary file beside it (mode 0600,
 * its name in *TMP) and returns a descriptor for writing, or -1
 * (reported); the caller writes and fsyncs it and checks it against the
 * record, then vk_repo_replace_end renames it over RELATIVE (KEEP) or
 * removes it (not KEEP).  The manifest does not change: the file becomes
 * again what it records.  A run killed in between leaves a temporary file
 * that the next open with LOCK removes.  Needs LOCK.
 */
int vk_repo_replace_begin(struct vk_repo *r, const char *relative, char **tmp);
int vk_repo_replace_end(struct vk_repo *r, const char *relative, const char *tmp, bool keep);

/* Replace the manifest's retired checkpoints (manifest.h) by the N of
 * RETIRED and write the manifest (crash-safe; needs LOCK).
 */
int vk_repo_set_retired(struct vk_repo *r, const struct vk_retired *retired, size_t n);

/* The journal of a backup interrupted by a crash, found when the repository
 * was opened with LOCK, or NULL (a journal of another kind was rolled back
 * or finished by the open).  The caller deletes the libvirt checkpoint
 * it names (it may or may not exist) before vk_repo_recover.
 */
const struct vk_backup *vk_repo_pending(const struct vk_repo *r);
/* Remove the files of the pending backup and its journal. */
int vk_repo_recover(struct vk_repo *r);

/* The newest backup that created checkpoint CHK, or NULL. */
const struct vk_backup *vk_repo_find_by_checkpoint(const struct vk_repo *r, const char *chk);
/* The saved XML of checkpoint CHK (relative): that of the newest backup
 * that created it, or of the full backup that has it as its differential
 * base; NULL if none.  *RANK (if not NULL) orders checkpoints of equal
 * creation time as the manifest does (a base before its full backup).
 */
const char *vk_repo_checkpoint_record(const struct vk_repo *r, const char *chk, size_t *rank);
/* The newest backup, or NULL. */
const struct vk_backup *vk_repo_latest(const struct vk_repo *r);
/* The full backup that started CHAIN, or NULL. */
const struct vk_backup *vk_repo_chain_full(const struct vk_repo *r, const char *chain);
/* The backup with id ID, or NULL. */
const struct vk_backup *vk_repo_find_by_id(const struct vk_repo *r, const char *id);
/* The backup a user means by AT: a backup id, or the name of the
 * checkpoint exactly one backup created; NULL AT: the newest.  A name two
 * backups share is a usage error listing their ids; none is NOT_FOUND.
 */
int vk_repo_find_point(const struct vk_repo *r, const char *at, const struct vk_backup **out);
/* The disk entry whose file is RELATIVE (and its backup in *OWNER), or NULL. */
const struct vk_backup_disk *vk_repo_find_file(const struct vk_repo *r, const char *relative,
                                               const struct vk_backup **owner);
/* A cheap check of every file backup B's disks depend on (B's files and,
 * through each disk's backing, its ancestors'): present, a regular file
 * (no symlink followed, nothing opened that could block), the recorded
 * size when recorded, a readable qcow2 header naming the recorded backing
 * file and virtual size.  No data is read.  Returns 0 when sound, 1 when
 * damaged with *WHY set (malloc'd, e.g. "file CHAIN/ID.vda.qcow2: size
 * 1234, the manifest says 5678"), -1 on error (reported).
 */
int vk_repo_check_chain(const struct vk_repo *r, const struct vk_backup *b, char **why);
/* The same for disk TARGET of B alone; without SIZES, the file sizes and
 * virtual sizes are not compared (restore --no-verify).
 */
int vk_repo_check_disk_chain(const struct vk_repo *r, const struct vk_backup *b,
                             const char *target, bool sizes, char **why);

/* Open REPO/DOMAIN for reading only, with the lock taken shared (verify):
 * a backup (exclusive) that runs makes this VK_EXIT_BUSY naming it, and a
 * backup started meanwhile waits until the readers are done.  Nothing in
 * the repository is written (a lock file that does not exist is created
 * when possible; a read-only repository is read without one).
 */
int vk_repo_open_shared(const char *repo_dir, const char *domain, struct vk_repo **out);
/* Open REPO/DOMAIN for reading only, as vk_repo_open_shared, except
 * that a writer holding the lock (a backup, a prune) does not make it
 * busy: the manifest is then read without the lock (it is replaced
 * atomically: the old one or the new one), and vk_repo_writer names the
 * writer.  Never creates nor writes anything (status).
 */
int vk_repo_open_reader(const char *repo_dir, const char *domain, struct vk_repo **out);
/* The writer that held the lock when vk_repo_open_reader opened R, or NULL. */
const char *vk_repo_writer(const struct vk_repo *r);
/* Whether REPO/DOMAIN has a manifest.xml (an empty repository has none). */
bool vk_repo_has_manifest(const struct vk_repo *r);
/* Whether the journal of a transaction is in REPO/DOMAIN: with the lock
 * shared, one a killed run left (the next writer finishes or rolls it back).
 */
bool vk_repo_journal_present(const struct vk_repo *r);
/* What in the domain directory is not its committed state, as glob patterns
 * relative to it (NULL-terminated): the lock file and the temporary files
 * of writes under way.  A copy of the directory leaves them out.
 */
extern const char *const vk_repo_transient[];

/* ---- Files of the repository (repo-files.c) ----
 * A file is named as the manifest names it, relative to the domain
 * directory ("CHAIN/ID.vda.qcow2", a backup's domain_xml, a state copy);
 * no one outside repo*.c builds a path in the repository.
 */
/* REPO/DOMAIN, to name the repository in messages and reports. */
const char *vk_repo_where(const struct vk_repo *r);
/* The place of file RELATIVE, to name it in messages and findings
 * (malloc'd).
 */
char *vk_repo_file_where(const struct vk_repo *r, const char *relative);
/* The path another program opens (malloc'd): a backup's disk file as the
 * job's target or an overlay's backing file, qemu-img's source, the chain
 * directory QEMU's user must reach; RELATIVE NULL: the domain directory
 * (whether it is writable, its free space).
 */
char *vk_repo_target(const struct vk_repo *r, const char *relative);
/* Open file RELATIVE for reading: a regular file, no link followed, never
 * blocking; *ST filled.  A descriptor, or -1 with errno set (not reported;
 * vk_open_error says why).
 */
int vk_repo_open_file(const struct vk_repo *r, const char *relative, struct stat *st);
/* Read file RELATIVE whole (at most MAX bytes, VK_READ_* FLAGS of
 * fileio.h; no link followed).  0, or -1 (reported).
 */
int vk_repo_read_file(const struct vk_repo *r, const char *relative, size_t max, unsigned flags,
                      char **out);
/* Whether nothing (no file, no link) is named RELATIVE: a free name. */
bool vk_repo_file_absent(const struct vk_repo *r, const char *relative);
/* The bytes file RELATIVE allocates on disk: 0, or -1 (errno). */
int vk_repo_file_allocated(const struct vk_repo *r, const char *relative, uint64_t *bytes);
/* Create the new file RELATIVE (mode 0600, never replacing one, no link
 * followed) for writing: a descriptor, or -1 (reported).  Needs LOCK, and
 * the name in a journal's CREATE steps.
 */
int vk_repo_create_fd(struct vk_repo *r, const char *relative);
/* Create the new file RELATIVE holding LEN bytes of BUF, fsync'd.  0, or
 * -1 (reported; nothing is left).
 */
int vk_repo_create_file(struct vk_repo *r, const char *relative, const void *buf, size_t len);
/* Whether R is in the repository directory REPO_DIR (the same directory,
 * whatever the paths that lead there).
 */
bool vk_repo_is_in(const struct vk_repo *r, const char *repo_dir);
/* List the domain directory (CHAIN NULL) or chain directory CHAIN: a
 * stream to closedir, or NULL with errno set (not reported).
 */
DIR *vk_repo_list(const struct vk_repo *r, const char *chain);

/* The names a backup of LEVEL stacked on PARENT (NULL for a full one) of
 * TARGETS would get now, for a dry run that writes nothing: *OUT a new
 * backup (vk_backup_free) with its id, chain and file names
 * (vk_backup_name), and the result the paths of its disk files QEMU would
 * be handed (NULL-terminated, malloc'd).  R may be NULL: the domain has
 * no repository yet, REPO_DIR/DOMAIN is where it would be.
 */
char **vk_repo_names(const struct vk_repo *r, const char *repo_dir, const char *domain,
                     enum vk_level level, const struct vk_backup *parent, char *const *targets,
                     struct vk_backup **out);

/* ---- Side records ----
 * Small files beside the manifest that the manifest does not list, each
 * owned by one module: drills.json (drill.c: the last drill of each
 * backup), instant.json (instant.c: the domains running from a backup),
 * last-run.json (lastrun.c: the outcome of the last backup attempt),
 * copies.json (copies.c: the last copy to each other repository, which
 * copy.c records).
 * A writer holds the record lock, an flock of the domain directory apart
 * from the repository lock, so that writers of one record (drills of two
 * backups, two restores) take turns while readers of the repository run.
 */
struct vk_record {
  const char *name;         /* VK_DRILLS_FILE, VK_INSTANT_FILE */
  char *path, *dir;         /* for messages */
  int dirfd;
};
/* Open record NAME of R (with LOCK, taking the record lock, released by
 * vk_record_close): 0, or -1 with errno set (not reported).
 */
int vk_repo_record_open(const struct vk_repo *r, const char *name, bool lock,
                        struct vk_record *rec);
/* The same for the domain directory DIR of a repository not opened
 * (restore --finish looks for a record in each).
 */
int vk_record_open(const char *dir, const char *name, bool lock, struct vk_record *rec);
/* The same for domain DOMAIN of repository REPO_DIR, neither opened nor
 * created (the backup command records its outcome once the backup has
 * closed the repository): the repository reached as vk_repo_open reaches
 * it, the domain directory never followed if a link and refused (EPERM)
 * if others may change it.  A missing (or untrusted) repository or
 * directory is -1 with errno ENOENT; nothing is reported.
 */
int vk_record_open_domain(const char *repo_dir, const char *domain, const char *name, bool lock,
                          struct vk_record *rec);
/* Take the record lock (vk_record_close releases it): 0, or -1 (errno). */
int vk_record_lock(const struct vk_record *rec);
/* Whether the record may be written (the directory is writable). */
bool vk_record_writable(const struct vk_record *rec);
/* Open the record for reading as vk_repo_open_file does. */
int vk_record_open_quiet(const struct vk_record *rec, struct stat *st);
/* Read the record whole (at most MAX bytes, VK_READ_* FLAGS): 0, or -1
 * (reported).
 */
int vk_record_read(const struct vk_record *rec, size_t max, unsigned flags, char **text);
/* Replace the record by TEXT crash-safely (needs the record lock). */
int vk_record_write(const struct vk_record *rec, const char *text);
/* Remove the record (needs the record lock): 0, or -1 (reported). */
int vk_record_remove(const struct vk_record *rec);
void vk_record_close(struct vk_record *rec);

#endif
