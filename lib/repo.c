/* vckpt - the backup repository: manifest, journal, lock, crash-safe files. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libxml/relaxng.h>

#include "access.h"
#include "backup.h"
#include "checksum.h"
#include "fileio.h"
#include "journal.h"
#include "lock.h"
#include "qcow2.h"
#include "repo.h"
#include "testhook.h"
#include "util.h"
#include "xml.h"

#define MANIFEST "manifest.xml"
#define JOURNAL "pending.xml"
#define LOCKFILE "lock"
#define MAX_SUFFIX 9999

enum current_state { CUR_NONE, CUR_ACTIVE, CUR_DONE };
/* SHARED_TRY: shared, or none while a writer holds it (vk_repo_open_reader). */
enum lock_mode { LOCK_MODE_NONE, LOCK_MODE_SHARED, LOCK_MODE_SHARED_TRY, LOCK_MODE_EXCLUSIVE };

static int repo_open(const char *repo_dir, const char *domain, bool create,
                     enum lock_mode mode, struct vk_repo **out);

struct vk_repo {
  char *dir;                  /* absolute REPO/DOMAIN */
  int dirfd;                  /* REPO/DOMAIN, opened without following a symlink */
  int lockfd;                 /* -1 when not locked */
  int shlockfd;               /* the lock taken shared (readers), or -1 */
  char *writer;               /* SHARED_TRY: the writer holding the lock, or NULL */
  bool have_manifest;         /* manifest.xml exists */
  struct vk_manifest m;
  struct vk_backup *pending;  /* journal of an interrupted run */
  struct vk_backup *current;  /* the backup begun by this run */
  enum current_state state;
  xmlRelaxNGPtr schema;       /* loaded on first use */
};

/* Check a domain name that becomes a directory name. */
static int
check_domain_name(const char *name)
{
  if (vk_check_lookup_name("domain", name) < 0)
    return -1;
  if (strchr(name, '/')) {
    vk_error(VK_EXIT_USAGE, "invalid domain name '%s' for a repository: contains '/'", name);
    return -1;
  }
  if (name[0] == '.') {
    vk_error(VK_EXIT_USAGE, "invalid domain name '%s' for a repository: starts with '.'", name);
    return -1;
  }
  if (strlen(name) > 255) {
    vk_error(VK_EXIT_USAGE, "invalid domain name '%.20s...' for a repository: longer than 255 bytes",
             name);
    return -1;
  }
  return 0;
}

/* ---- files ---- */

/* fsync a file or directory descriptor; WHAT names it in the error. */
static int
sync_fd(int fd, const char *what)
{
  return vk_sync_fd(fd, what);
}

/* Write CONTENT to RELATIVE crash-safely (vk_write_atomic). */
static int
write_atomic(const struct vk_repo *r, const char *relative, const char *content, bool replace)
{
  CLEANUP_FREE char *path = vk_repo_path(r, relative);
  return vk_write_atomic(r->dirfd, relative, path, content, replace);
}

/* Remove RELATIVE (absent is fine); failures are warnings. */
static void
remove_file(const struct vk_repo *r, const char *relative)
{
  if (relative && unlinkat(r->dirfd, relative, 0) < 0 && errno != ENOENT)
    vk_warn("cannot remove %s/%s: %s", r->dir, relative, strerror(errno));
}

/* Remove our temporary files left in directory SUB ("" for the domain
 * directory) by a killed run.  Only the lock holder writes them.
 */
static void
sweep_temps(const struct vk_repo *r, const char *sub)
{
  vk_sweep_temps(r->dirfd, r->dir, sub);
}

/* Read and validate NAME (manifest or journal), whose root must be ROOT;
 * *DOC is NULL when the file does not exist.
 */
static int
load_doc(struct vk_repo *r, const char *name, const char *root, xmlDocPtr *doc)
{
  CLEANUP_FREE char *path = vk_repo_path(r, name);
  return vk_manifest_load_doc(r->dirfd, name, path, root, &r->schema, doc);
}

/* Validate and write a generated document crash-safely. */
static int
write_doc(struct vk_repo *r, xmlDocPtr doc, const char *name)
{
  CLEANUP_FREE char *path = vk_repo_path(r, name);
  if (vk_manifest_validate(&r->schema, doc, path, true) < 0)
    return -1;
  CLEANUP_FREE char *text = vk_xml_format(doc);
  return write_atomic(r, name, text, true);
}

/* Read the manifest, if there is one. */
static int
load_manifest(struct vk_repo *r, const char *domain)
{
  struct vk_manifest *m = &r->m;
  m->domain = vk_xstrdup(domain);
  CLEANUP_FREE char *path = vk_repo_path(r, MANIFEST);
  CLEANUP_XMLDOC xmlDocPtr doc = NULL;
  if (load_doc(r, MANIFEST, "manifest", &doc) < 0)
    return -1;
  if (!doc)
    return 0;
  r->have_manifest = true;
  return vk_manifest_parse(doc, path, domain, m);
}

/* Remove the journal; it goes last, once the files it names are gone. */
static int
remove_journal(struct vk_repo *r)
{
  if (unlinkat(r->dirfd, JOURNAL, 0) < 0 && errno != ENOENT) {
    vk_error(VK_EXIT_FAILURE, "cannot remove %s/%s: %s", r->dir, JOURNAL, strerror(errno));
    return -1;
  }
  return sync_fd(r->dirfd, r->dir);
}

/* Act on journal J read from PATH (see load_journal). */
static int
recover_journal(struct vk_repo *r, const char *path, struct vk_journal *j)
{
  bool committed = vk_journal_committed(j, &r->m);
  if (j->kind == VK_TXN_BACKUP) {
    if (committed) {
      /* Killed after the manifest was written: finish the commit. */
      vk_debug("backup %s was committed; removing its journal", j->backup->id);
      remove_file(r, JOURNAL);
      return sync_fd(r->dirfd, r->dir);
    }
    if (vk_manifest_check_backup(path, &r->m, r->m.nr_backups, j->backup) < 0)
      return -1;
    r->pending = j->backup;
    j->backup = NULL;
    return 0;
  }
  int failed;
  if (committed) {
    vk_warn("finishing the %s interrupted after its commit (%s)", vk_txn_kind_name(j->kind),
            path);
    failed = vk_journal_roll_forward(j, r->dirfd, r->dir, &r->m);
  } else {
    vk_warn("rolling back the interrupted %s (%s)", vk_txn_kind_name(j->kind), path);
    failed = vk_journal_roll_back(j, r->dirfd, r->dir, &r->m);
  }
  if (failed) {
    vk_error(VK_EXIT_FAILURE, "%s: %d step%s of the interrupted %s could not be finished "
             "(above); the journal is kept for the next run", path, failed,
             failed == 1 ? "" : "s", vk_txn_kind_name(j->kind));
    return -1;
  }
  return remove_journal(r);
}

/* Read the journal of an interrupted run (journal.h).  A backup's is kept
 * for vk_repo_recover, whose caller deletes its checkpoint first, unless
 * that backup committed (then the journal is dropped).  Other kinds have
 * nothing outside the repository: they are rolled back or finished here.
 */
static int
load_journal(struct vk_repo *r)
{
  CLEANUP_FREE char *path = vk_repo_path(r, JOURNAL);
  CLEANUP_XMLDOC xmlDocPtr doc = NULL;
  if (load_doc(r, JOURNAL, "pending", &doc) < 0)
    return -1;
  if (!doc)
    return 0;
  struct vk_journal j = { .kind = VK_TXN_BACKUP };
  int rc = vk_journal_parse(doc, path, &j) < 0 ? -1 : recover_journal(r, path, &j);
  vk_journal_clear(&j);
  return rc;
}

/* ---- open and close ---- */

/* Take the lock of the domain directory exclusively (lock.h). */
static int
take_lock(struct vk_repo *r, const char *domain)
{
  CLEANUP_FREE char *path = vk_repo_path(r, LOCKFILE);
  r->lockfd = vk_lock_exclusive(r->dirfd, LOCKFILE, path, domain);
  return r->lockfd < 0 ? -1 : 0;
}

/* Take the lock shared, as a reader (lock.h); with TRY, go on without it
 * while a writer holds it.
 */
static int
take_shared_lock(struct vk_repo *r, const char *domain, bool try)
{
  CLEANUP_FREE char *path = vk_repo_path(r, LOCKFILE);
  if (try)
    return vk_lock_shared_try(r->dirfd, LOCKFILE, path, &r->shlockfd, &r->writer) < 0 ? -1 : 0;
  return vk_lock_shared(r->dirfd, LOCKFILE, path, domain, &r->shlockfd);
}

int
vk_repo_open_shared(const char *repo_dir, const char *domain, struct vk_repo **out)
{
  return repo_open(repo_dir, domain, false, LOCK_MODE_SHARED, out);
}

int
vk_repo_open_reader(const char *repo_dir, const char *domain, struct vk_repo **out)
{
  return repo_open(repo_dir, domain, false, LOCK_MODE_SHARED_TRY, out);
}

const char *
vk_repo_writer(const struct vk_repo *r)
{
  return r->writer;
}

bool
vk_repo_has_manifest(const struct vk_repo *r)
{
  return r->have_manifest;
}

bool
vk_repo_journal_present(const struct vk_repo *r)
{
  struct stat st;
  return fstatat(r->dirfd, JOURNAL, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
}

const char *const vk_repo_transient[] = {
  LOCKFILE, VK_TMP_PREFIX "*", "*/" VK_TMP_PREFIX "*", NULL
};

const char *
vk_default_repo(const char *given)
{
  if (given)
    return given;
  const char *env = getenv("VCKPT_REPO");
  return env && *env ? env : VK_VAR_DIR;
}

int
vk_repo_open(const char *repo_dir, const char *domain, bool create, bool lock,
             struct vk_repo **out)
{
  return repo_open(repo_dir, domain, create, lock ? LOCK_MODE_EXCLUSIVE : LOCK_MODE_NONE, out);
}

/* Refuse a directory of the repository (the domain's, a chain's) that is
 * not vckpt's (or root's) own: another user owns or may write it.  With FIX, one vckpt
 * made private (0700, older versions) becomes searchable (VK_DIR_MODE), so
 * QEMU's user can reach the backup targets libvirt hands it.
 */
static int
check_own_dir(int fd, const char *path, bool fix)
{
  struct stat st;
  const char *why;
  if (fstat(fd, &st) < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", path, strerror(errno));
    return -1;
  }
  if (st.st_uid != geteuid() && st.st_uid != 0) {
    why = "owned by another user";
  } else if (!vk_dir_trusted(&st, false, &why)) {
  } else {
    if (fix && st.st_uid == geteuid() && (st.st_mode & 07777) != VK_DIR_MODE &&
        fchmod(fd, VK_DIR_MODE) < 0) {
      vk_error(VK_EXIT_FAILURE, "%s: chmod: %s", path, strerror(errno));
      return -1;
    }
    return 0;
  }
  vk_error(VK_EXIT_USAGE,
           "%s is %s (owner uid %u, mode %04o): that user could replace backup files; "
           "the repository's directories must be vckpt's alone", path, why,
           (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
  return -1;
}

/* Make every chain directory of the manifest searchable (older versions
 * made them 0700): drills and instant domains open files in any of them.
 * A directory that is not the repository's own is left for the backup
 * that uses it to refuse; failures here only warn.  Our temporary files
 * a killed run left in them go (a repair's: vk_repo_replace_begin).
 */
static void
fix_chain_dirs(struct vk_repo *r)
{
  for (size_t i = 0; i < r->m.nr_backups; i++) {
    const char *chain = r->m.backups[i].chain;
    if (i > 0 && strcmp(chain, r->m.backups[i - 1].chain) == 0)
      continue;
    sweep_temps(r, chain);
    CLEANUP_CLOSE int fd = openat(r->dirfd, chain, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                  O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_uid != geteuid() ||
        (st.st_mode & 07777) != 0700)
      continue;
    if (fchmod(fd, VK_DIR_MODE) < 0)
      vk_warn("%s/%s: chmod: %s", r->dir, chain, strerror(errno));
  }
}

/* vk_repo_open with a lock mode. */
static int
repo_open(const char *repo_dir, const char *domain, bool create, enum lock_mode mode,
          struct vk_repo **out)
{
  bool lock = mode == LOCK_MODE_EXCLUSIVE;
  *out = NULL;
  if (check_domain_name(domain) < 0)
    return -1;
  /* Every directory on the way is one only root can change: a repository
   * another user may write would let them swap a chain directory for a
   * link between vckpt's calls (access.h).
   */
  CLEANUP_FREE char *abs = NULL;
  CLEANUP_CLOSE int repofd = vk_dir_open_trusted(repo_dir, "repository", create, &abs);
  if (repofd < 0)
    return -1;
  struct vk_repo *r = vk_xcalloc(1, sizeof *r);
  r->dirfd = r->lockfd = r->shlockfd = -1;
  r->dir = vk_xasprintf("%s/%s", strcmp(abs, "/") == 0 ? "" : abs, domain);

  if (create) {
    if (mkdirat(repofd, domain, VK_DIR_MODE) == 0) {
      if (sync_fd(repofd, abs) < 0) {
        vk_repo_close(r);
        return -1;
      }
    } else if (errno != EEXIST) {
      vk_error(VK_EXIT_FAILURE, "cannot create %s: %s", r->dir, strerror(errno));
      vk_repo_close(r);
      return -1;
    }
  }
  r->dirfd = openat(repofd, domain, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (r->dirfd < 0) {
    struct stat st;
    if (errno == ENOENT)
      vk_error(VK_EXIT_NOT_FOUND, "no backups of domain '%s' in %s", domain, abs);
    else if ((errno == ELOOP || errno == ENOTDIR) &&
             fstatat(repofd, domain, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
      vk_error(VK_EXIT_FAILURE, "%s: a symbolic link, not followed (a domain's directory "
               "must be a directory of the repository itself)", r->dir);
    else
      vk_error(VK_EXIT_FAILURE, "%s: %s", r->dir,
               errno == ELOOP || errno == ENOTDIR ? "not a directory" : strerror(errno));
    vk_repo_close(r);
    return -1;
  }
  if (check_own_dir(r->dirfd, r->dir, create) < 0) {
    vk_repo_close(r);
    return -1;
  }
  if ((lock && take_lock(r, domain) < 0) ||
      (mode == LOCK_MODE_SHARED && take_shared_lock(r, domain, false) < 0) ||
      (mode == LOCK_MODE_SHARED_TRY && take_shared_lock(r, domain, true) < 0) ||
      load_manifest(r, domain) < 0) {
    vk_repo_close(r);
    return -1;
  }
  if (lock) {
    sweep_temps(r, "");
    if (load_journal(r) < 0) {
      vk_repo_close(r);
      return -1;
    }
    /* Files a drill or an instant domain left to QEMU's user (no drill
     * runs: it holds the shared lock).
     */
    vk_repo_give_back(r);
    fix_chain_dirs(r);
  }
  *out = r;
  return 0;
}

void
vk_repo_close(struct vk_repo *r)
{
  if (!r)
    return;
  if (r->lockfd >= 0) {
    CLEANUP_FREE char *path = vk_repo_path(r, LOCKFILE);
    vk_lock_release(r->lockfd, path);
  }
  if (r->shlockfd >= 0)
    close(r->shlockfd);
  if (r->dirfd >= 0)
    close(r->dirfd);
  vk_manifest_clear(&r->m);
  vk_backup_free(r->pending);
  vk_backup_free(r->current);
  free(r->writer);
  if (r->schema)
    xmlRelaxNGFree(r->schema);
  free(r->dir);
  free(r);
}

const struct vk_manifest *
vk_repo_manifest(const struct vk_repo *r)
{
  return &r->m;
}

const char *
vk_repo_dir(const struct vk_repo *r)
{
  return r->dir;
}

char *
vk_repo_path(const struct vk_repo *r, const char *relative)
{
  return vk_xasprintf("%s/%s", r->dir, relative);
}

int
vk_repo_check_uuid(struct vk_repo *r, const char *uuid)
{
  if (r->m.uuid && strcasecmp(r->m.uuid, uuid) != 0) {
    vk_error(VK_EXIT_PREFLIGHT, "repository %s holds backups of another domain named '%s' "
             "(UUID %s, this one is %s)", r->dir, r->m.domain, r->m.uuid, uuid);
    return -1;
  }
  if (!r->m.uuid)
    r->m.uuid = vk_xstrdup(uuid);
  return 0;
}

/* Report use of a writing call without the lock (a bug in the caller). */
static int
need_lock(const struct vk_repo *r, const char *fn)
{
  if (r->lockfd < 0) {
    vk_error(VK_EXIT_FAILURE, "internal error: %s on repository %s opened without its lock",
             fn, r->dir);
    return -1;
  }
  return 0;
}

/* ---- making a backup ---- */

/* Whether RELATIVE exists (without following a final symlink). */
static bool
exists(const struct vk_repo *r, const char *relative)
{
  struct stat st;
  return fstatat(r->dirfd, relative, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
}

/* Whether the name B got is free: id unused, no file or chain in the way. */
static bool
names_free(const struct vk_repo *r, const struct vk_backup *b, bool new_chain)
{
  if (vk_manifest_find_id(&r->m, r->m.nr_backups, b->id))
    return false;
  if (new_chain) {
    for (size_t i = 0; i < r->m.nr_backups; i++)
      if (strcmp(r->m.backups[i].chain, b->chain) == 0)
        return false;
    return !exists(r, b->chain);
  }
  if (exists(r, b->domain_xml) || exists(r, b->checkpoint_xml))
    return false;
  for (size_t i = 0; i < b->nr_disks; i++)
    if (exists(r, b->disks[i].file))
      return false;
  return true;
}

/* Check the arguments of vk_repo_begin; sets *PP to the parent in the manifest. */
static int
check_begin(struct vk_repo *r, enum vk_level level, const char *checkpoint, const char *since,
            const struct vk_backup *parent, char *const *targets, char *const *whole,
            const struct vk_backup **pp)
{
  *pp = NULL;
  if (need_lock(r, "vk_repo_begin") < 0)
    return -1;
  if (r->pending) {
    vk_error(VK_EXIT_FAILURE, "backup %s of domain '%s' was interrupted and must be "
             "recovered first", r->pending->id, r->m.domain);
    return -1;
  }
  if (r->state == CUR_ACTIVE) {
    vk_error(VK_EXIT_FAILURE, "internal error: backup %s is still in progress", r->current->id);
    return -1;
  }
  if (vk_check_name("checkpoint", checkpoint) < 0)
    return -1;
  if (!targets || !targets[0]) {
    vk_error(VK_EXIT_USAGE, "no disk to back up");
    return -1;
  }
  for (size_t i = 0; targets[i]; i++) {
    if (vk_check_name("disk", targets[i]) < 0)
      return -1;
    for (size_t j = 0; j < i; j++)
      if (strcmp(targets[i], targets[j]) == 0) {
        vk_error(VK_EXIT_USAGE, "disk '%s' given twice", targets[i]);
        return -1;
      }
  }
  if (level == VK_LEVEL_FULL) {
    if (parent || since) {
      vk_error(VK_EXIT_FAILURE, "internal error: a full backup has no parent");
      return -1;
    }
    return 0;
  }
  const struct vk_backup *p = parent ? vk_manifest_find_id(&r->m, r->m.nr_backups, parent->id) : NULL;
  if (!p) {
    vk_error(VK_EXIT_FAILURE, "internal error: %s backup without a parent in the manifest",
             vk_level_name(level));
    return -1;
  }
  /* A differential backup of a full backup prune made of a later point
   * is taken from that full's differential base (manifest.h).
   */
  const char *want = level == VK_LEVEL_DIFFERENTIAL && p->level == VK_LEVEL_FULL
    ? vk_backup_diff_since(p, NULL, NULL) : p->checkpoint;
  if (since && (vk_check_name("checkpoint", since) < 0 || strcmp(since, want) != 0)) {
    if (!vk_error_reported())
      vk_error(VK_EXIT_FAILURE, "internal error: checkpoint %s was not created by backup %s",
               since, p->id);
    return -1;
  }
  if (level == VK_LEVEL_DIFFERENTIAL && p->level != VK_LEVEL_FULL) {
    vk_error(VK_EXIT_FAILURE, "internal error: a differential backup stacks on a full backup, "
             "not on %s", p->id);
    return -1;
  }
  for (size_t i = 0; targets[i]; i++)
    if (!vk_backup_find_disk(p, targets[i]) && !(whole && vk_strv_contains(whole, targets[i]))) {
      vk_error(VK_EXIT_PREFLIGHT, "disk %s is not in backup %s that this %s backup would "
               "stack on: take a full backup", targets[i], p->id, vk_level_name(level));
      return -1;
    }
  *pp = p;
  return 0;
}

int
vk_repo_begin(struct vk_repo *r, enum vk_level level, const char *checkpoint,
              const char *since, const struct vk_backup *parent,
              char *const *targets, char *const *whole, const char *identity,
              struct vk_backup **out)
{
  *out = NULL;
  const struct vk_backup *p;
  if (check_begin(r, level, checkpoint, since, parent, targets, whole, &p) < 0)
    return -1;
  vk_backup_free(r->current);
  r->current = NULL;
  r->state = CUR_NONE;

  struct vk_backup *b = vk_xcalloc(1, sizeof *b);
  b->level = level;
  b->checkpoint = vk_xstrdup(checkpoint);
  b->identity = identity ? vk_xstrdup(identity) : NULL;
  b->start = time(NULL);
  if (p) {
    b->since = vk_xstrdup(p->checkpoint);
    b->parent = vk_xstrdup(p->id);
    b->chain = vk_xstrdup(p->chain);
  }
  b->nr_disks = vk_strv_len(targets);
  b->disks = vk_xcalloc(b->nr_disks, sizeof *b->disks);
  for (size_t i = 0; i < b->nr_disks; i++)
    b->disks[i].target = vk_xstrdup(targets[i]);

  CLEANUP_FREE char *stamp = NULL;
  for (int n = 1; ; n++) {
    if (n > MAX_SUFFIX) {
      vk_error(VK_EXIT_FAILURE, "%s: cannot find a free name for a backup at %s", r->dir, stamp);
      vk_backup_free(b);
      return -1;
    }
    vk_backup_name(b, n, p, whole);
    if (n == 1)
      stamp = vk_xstrdup(b->id + strlen(vk_level_prefix(level)) + 1);
    if (names_free(r, b, level == VK_LEVEL_FULL))
      break;
  }

  /* The journal first: from here on a crash is rolled back from it. */
  struct vk_journal j = { .kind = VK_TXN_BACKUP };
  vk_journal_for_backup(&j, b);
  CLEANUP_XMLDOC xmlDocPtr doc = vk_journal_build(&r->m, &j);
  vk_journal_clear(&j);
  if (write_doc(r, doc, JOURNAL) < 0) {
    vk_backup_free(b);
    return -1;
  }
  r->current = b;
  r->state = CUR_ACTIVE;
  if (level == VK_LEVEL_FULL) {
    if (mkdirat(r->dirfd, b->chain, VK_DIR_MODE) < 0) {
      vk_error(VK_EXIT_FAILURE, "cannot create %s/%s: %s", r->dir, b->chain, strerror(errno));
      vk_repo_abort(r, b);
      return -1;
    }
    if (sync_fd(r->dirfd, r->dir) < 0) {
      vk_repo_abort(r, b);
      return -1;
    }
  }
  /* QEMU's user writes the targets libvirt hands it in there: the chain
   * directory must be vckpt's alone and searchable (access.h).
   */
  CLEANUP_FREE char *chain_path = vk_repo_path(r, b->chain);
  CLEANUP_CLOSE int chainfd = openat(r->dirfd, b->chain,
                                     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (chainfd < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", chain_path, strerror(errno));
    vk_repo_abort(r, b);
    return -1;
  }
  if (check_own_dir(chainfd, chain_path, true) < 0) {
    vk_repo_abort(r, b);
    return -1;
  }
  vk_debug("backup %s: chain %s, journal written", b->id, b->chain);
  *out = b;
  return 0;
}

/* Report a call about B when B is not the backup in progress. */
static int
need_current(const struct vk_repo *r, const struct vk_backup *b, const char *fn)
{
  if (need_lock(r, fn) < 0)
    return -1;
  if (!b || b != r->current || r->state != CUR_ACTIVE) {
    vk_error(VK_EXIT_FAILURE, "internal error: %s on a backup that is not in progress", fn);
    return -1;
  }
  return 0;
}

int
vk_repo_write_file(struct vk_repo *r, const char *relative, const char *content)
{
  if (need_current(r, r->current, "vk_repo_write_file") < 0)
    return -1;
  const struct vk_backup *b = r->current;
  if (strcmp(relative, b->domain_xml) != 0 && strcmp(relative, b->checkpoint_xml) != 0) {
    vk_error(VK_EXIT_FAILURE, "internal error: '%s' is not a file of backup %s",
             relative, b->id);
    return -1;
  }
  return write_atomic(r, relative, content, false);
}

/* fsync a disk file of B and compute its checksum. */
static int
seal_disk(struct vk_repo *r, struct vk_backup_disk *d)
{
  return vk_repo_seal_disk(r, d);
}

/* Record the guest data disk file D (open as FD, *ST) holds in its own
 * clusters, for its compression ratio (list-backups): its L2 tables, just
 * read for the checksum, are in the page cache.  Unknown (not recorded)
 * when the file cannot be read as qcow2: the backup does not depend on it.
 */
static void
guest_bytes(int fd, const struct stat *st, const char *path, struct vk_backup_disk *d)
{
  struct vk_source src = { .opaque = &fd, .size = st->st_size, .pread = vk_fd_pread };
  struct vk_image img;
  CLEANUP_FREE char *err = NULL;
  uint64_t data = 0, compressed = 0;
  d->has_guest_bytes = false;
  if (vk_image_parse(&src, path, "qcow2", &img, &err) == 0) {
    d->has_guest_bytes = vk_image_data_bytes(&src, &img, &data, &compressed, &err) == 0;
    vk_image_clear(&img);
  }
  if (d->has_guest_bytes) {
    d->guest_bytes = data;
    vk_debug("disk %s: %s holds %llu bytes of guest data, %llu clusters compressed", d->target,
             path, (unsigned long long)data, (unsigned long long)compressed);
  } else
    vk_debug("disk %s: guest data not recorded: %s", d->target, err ? err : "out of memory");
}

int
vk_repo_seal_disk(struct vk_repo *r, struct vk_backup_disk *d)
{
  CLEANUP_FREE char *path = vk_repo_path(r, d->file);
  struct stat st;
  CLEANUP_CLOSE int fd = vk_open_regular_quiet(r->dirfd, d->file, VK_READ_NOFOLLOW, &st);
  if (fd < 0) {
    vk_error(errno == ENOENT ? VK_EXIT_NOT_FOUND : VK_EXIT_FAILURE,
             "disk %s: %s: %s", d->target, path, vk_open_error(errno, &st));
    return -1;
  }
  /* Guest data: vckpt's user's alone (0600), whatever created the file and
   * whoever libvirt's DAC driver chowned it to while QEMU wrote it.
   */
  if (vk_give_back_fd(fd) < 0) {
    vk_error(VK_EXIT_FAILURE, "disk %s: %s: chown/chmod: %s", d->target, path, strerror(errno));
    return -1;
  }
  /* Start writing back what QEMU left in the page cache, hash the file
   * from there meanwhile, then wait for the writeback with fsync: the
   * file is on disk before the manifest names it, and the hash overlaps
   * the writeback instead of following it.  (sync_file_range is only a
   * hint: fsync is what counts.)
   */
  (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
  if (fstat(fd, &st) < 0) {
    vk_error(VK_EXIT_FAILURE, "disk %s: %s: stat: %s", d->target, path, strerror(errno));
    return -1;
  }
  char hex[VK_SUM_HEX_MAX];
  if (vk_sum_fd(VK_SUM_DEFAULT, fd, path, hex) < 0 || sync_fd(fd, path) < 0)
    return -1;
  free(d->checksum);
  d->checksum = vk_xstrdup(hex);
  d->checksum_type = VK_SUM_DEFAULT;
  d->file_size = st.st_size;
  guest_bytes(fd, &st, path, d);
  return 0;
}

int
vk_repo_commit(struct vk_repo *r, struct vk_backup *b)
{
  if (need_current(r, b, "vk_repo_commit") < 0)
    return -1;
  for (size_t i = 0; i < b->nr_disks; i++)
    if (seal_disk(r, &b->disks[i]) < 0)
      return -1;
  const char *xmls[] = { b->domain_xml, b->checkpoint_xml };
  for (size_t i = 0; i < 2; i++)
    if (!exists(r, xmls[i])) {
      vk_error(VK_EXIT_FAILURE, "backup %s: %s/%s was not written", b->id, r->dir, xmls[i]);
      return -1;
    }
  CLEANUP_FREE char *chain = vk_repo_path(r, b->chain);
  CLEANUP_CLOSE int cfd = openat(r->dirfd, b->chain,
                                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (cfd < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", chain, strerror(errno));
    return -1;
  }
  if (sync_fd(cfd, chain) < 0)
    return -1;
  if (!b->end)
    b->end = time(NULL);

  CLEANUP_XMLDOC xmlDocPtr doc = vk_manifest_build(&r->m, b);
  if (write_doc(r, doc, MANIFEST) < 0)
    return -1;
  /* Committed.  A journal left by a crash here is dropped by the next open. */
  r->m.backups = vk_xrealloc(r->m.backups, (r->m.nr_backups + 1) * sizeof *r->m.backups);
  vk_backup_copy(&r->m.backups[r->m.nr_backups++], b);
  r->state = CUR_DONE;
  if (unlinkat(r->dirfd, JOURNAL, 0) < 0)
    vk_warn("cannot remove %s/%s: %s", r->dir, JOURNAL, strerror(errno));
  else if (fsync(r->dirfd) < 0)
    vk_warn("%s: fsync: %s", r->dir, strerror(errno));
  vk_debug("backup %s committed", b->id);
  return 0;
}

/* Remove the files of uncommitted backup B (never one the manifest names):
 * roll back its transaction.  0, or -1 (reported) when some are left: the
 * journal must then stay, for the next run to finish the rollback.
 */
static int
remove_backup_files(struct vk_repo *r, const struct vk_backup *b)
{
  struct vk_journal j = { .kind = VK_TXN_BACKUP };
  vk_journal_for_backup(&j, b);
  int failed = vk_journal_roll_back(&j, r->dirfd, r->dir, &r->m);
  vk_journal_clear(&j);
  if (failed) {
    vk_error(VK_EXIT_FAILURE, "backup %s: %d of its files could not be removed (above); its "
             "journal %s/%s is kept and the next run for this domain removes them", b->id,
             failed, r->dir, JOURNAL);
    return -1;
  }
  return 0;
}

int
vk_repo_abort(struct vk_repo *r, struct vk_backup *b)
{
  if (!b || b != r->current || r->state != CUR_ACTIVE || r->lockfd < 0)
    return 0;
  vk_debug("backup %s aborted: removing its files", b->id);
  if (remove_backup_files(r, b) < 0 || remove_journal(r) < 0)
    return -1;
  r->state = CUR_DONE;
  return 0;
}

/* ---- retention's merge ---- */

int
vk_repo_set_retired(struct vk_repo *r, const struct vk_retired *retired, size_t n)
{
  if (need_lock(r, "vk_repo_set_retired") < 0)
    return -1;
  struct vk_manifest next = { 0 };
  for (size_t i = 0; i < n; i++)
    vk_manifest_add_retired(&next, retired[i].checkpoint, retired[i].identity);
  struct vk_manifest m = r->m;
  m.nr_retired = next.nr_retired;
  m.retired = next.retired;
  CLEANUP_XMLDOC xmlDocPtr doc = vk_manifest_build(&m, NULL);
  if (write_doc(r, doc, MANIFEST) < 0) {
    vk_manifest_clear(&next);
    return -1;
  }
  /* Swap the lists: the old one is freed with NEXT. */
  next.retired = r->m.retired;
  next.nr_retired = r->m.nr_retired;
  r->m.retired = m.retired;
  r->m.nr_retired = m.nr_retired;
  vk_manifest_clear(&next);
  r->have_manifest = true;
  return 0;
}

int
vk_repo_dirfd(const struct vk_repo *r)
{
  return r->dirfd;
}

/* Refuse to begin a transaction while a backup's journal is pending. */
static int
txn_check_pending(const struct vk_repo *r, const char *fn)
{
  if (need_lock(r, fn) < 0)
    return -1;
  if (r->pending || r->state == CUR_ACTIVE) {
    vk_error(VK_EXIT_FAILURE, "backup %s of domain '%s' was interrupted and must be "
             "recovered first (the next backup does it)",
             r->pending ? r->pending->id : r->current->id, r->m.domain);
    return -1;
  }
  return 0;
}

int
vk_repo_merge_begin(struct vk_repo *r, const struct vk_journal *j)
{
  if (txn_check_pending(r, "vk_repo_merge_begin") < 0)
    return -1;
  if (j->kind != VK_TXN_MERGE || j->commit_listed ||
      !vk_manifest_find_id(&r->m, r->m.nr_backups, j->commit_id)) {
    vk_error(VK_EXIT_FAILURE, "internal error: a merge is committed once a listed backup "
             "is no longer listed");
    return -1;
  }
  CLEANUP_XMLDOC xmlDocPtr doc = vk_journal_build(&r->m, j);
  return write_doc(r, doc, JOURNAL);
}

/* ---- a copy from another repository ---- */

int
vk_repo_copy_begin(struct vk_repo *r, const struct vk_journal *j)
{
  if (txn_check_pending(r, "vk_repo_copy_begin") < 0)
    return -1;
  if (j->kind != VK_TXN_COPY || !j->commit_listed ||
      vk_manifest_find_id(&r->m, r->m.nr_backups, j->commit_id)) {
    vk_error(VK_EXIT_FAILURE, "internal error: a copy is committed once a backup the "
             "manifest does not list is listed");
    return -1;
  }
  CLEANUP_XMLDOC xmlDocPtr doc = vk_journal_build(&r->m, j);
  return write_doc(r, doc, JOURNAL);
}

int
vk_repo_copy_chain(struct vk_repo *r, const struct vk_journal *j, const char *chain)
{
  if (need_lock(r, "vk_repo_copy_chain") < 0)
    return -1;
  bool create = false;
  for (size_t i = 0; i < j->nr_steps && !create; i++)
    create = j->steps[i].action == VK_STEP_CREATE && j->steps[i].type == VK_STEP_DIRECTORY &&
             strcmp(j->steps[i].name, chain) == 0;
  CLEANUP_FREE char *path = vk_repo_path(r, chain);
  if (create && !exists(r, chain)) {
    if (mkdirat(r->dirfd, chain, VK_DIR_MODE) < 0) {
      vk_error(VK_EXIT_FAILURE, "cannot create %s: %s", path, strerror(errno));
      return -1;
    }
    if (sync_fd(r->dirfd, r->dir) < 0)
      return -1;
  }
  CLEANUP_CLOSE int fd = openat(r->dirfd, chain, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    vk_error(errno == ENOENT ? VK_EXIT_NOT_FOUND : VK_EXIT_FAILURE, "%s: %s", path,
             errno == ELOOP || errno == ENOTDIR ? "not a directory" : strerror(errno));
    return -1;
  }
  return check_own_dir(fd, path, true);
}

/* ---- a damaged file put back ---- */

/* The chain directory of RELATIVE ("CHAIN/NAME"; NAME starts with a dot
 * only when TEMP), opened without following a link, and NAME in *BASE: a
 * descriptor, or -1 (reported).
 */
static int
open_chain_of(const struct vk_repo *r, const char *relative, bool temp, const char **base)
{
  const char *slash = strchr(relative, '/');
  if (!slash || strchr(slash + 1, '/') || slash[1] == '\0' || (slash[1] == '.') != temp) {
    vk_error(VK_EXIT_FAILURE, "internal error: %s/%s is not a file of a chain directory",
             r->dir, relative);
    return -1;
  }
  CLEANUP_FREE char *chain = vk_xasprintf("%.*s", (int)(slash - relative), relative);
  int fd = openat(r->dirfd, chain, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    vk_error(VK_EXIT_FAILURE, "%s/%s: %s", r->dir, chain, strerror(errno));
    return -1;
  }
  *base = slash + 1;
  return fd;
}

int
vk_repo_replace_begin(struct vk_repo *r, const char *relative, char **tmp)
{
  static unsigned counter;
  *tmp = NULL;
  if (need_lock(r, "vk_repo_replace_begin") < 0)
    return -1;
  if (!vk_manifest_has_file(&r->m, relative)) {
    vk_error(VK_EXIT_FAILURE, "internal error: %s/%s is not a file of a committed backup",
             r->dir, relative);
    return -1;
  }
  const char *base;
  CLEANUP_CLOSE int cfd = open_chain_of(r, relative, false, &base);
  if (cfd < 0)
    return -1;
  for (int tries = 0; ; tries++) {
    char *name = vk_xasprintf(VK_TMP_PREFIX "%ld.%u.%s", (long)getpid(), counter++, base);
    int fd = openat(cfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
      *tmp = vk_xasprintf("%.*s%s", (int)(base - relative), relative, name);
      free(name);
      return fd;
    }
    free(name);
    if (errno != EEXIST || tries > 100) {
      vk_error(VK_EXIT_FAILURE, "%s/%s: cannot create a temporary file: %s", r->dir,
               relative, strerror(errno));
      return -1;
    }
  }
}

int
vk_repo_replace_end(struct vk_repo *r, const char *relative, const char *tmp, bool keep)
{
  if (need_lock(r, "vk_repo_replace_end") < 0)
    return -1;
  const char *base, *tbase;
  CLEANUP_CLOSE int cfd = open_chain_of(r, relative, false, &base);
  if (cfd < 0)
    return -1;
  CLEANUP_CLOSE int tfd = open_chain_of(r, tmp, true, &tbase);
  if (tfd < 0)
    return -1;
  if (base - relative != tbase - tmp || strncmp(relative, tmp, base - relative) != 0 ||
      strncmp(tbase, VK_TMP_PREFIX, strlen(VK_TMP_PREFIX)) != 0) {
    vk_error(VK_EXIT_FAILURE, "internal error: %s is not a temporary file beside %s", tmp,
             relative);
    return -1;
  }
  if (!keep) {
    if (unlinkat(cfd, tbase, 0) < 0 && errno != ENOENT)
      vk_warn("cannot remove %s/%s: %s", r->dir, tmp, strerror(errno));
    return 0;
  }
  if (renameat(cfd, tbase, cfd, base) < 0) {
    vk_error(VK_EXIT_FAILURE, "cannot put %s/%s in the place of %s: %s", r->dir, tmp,
             relative, strerror(errno));
    unlinkat(cfd, tbase, 0);
    return -1;
  }
  CLEANUP_FREE char *path = vk_repo_path(r, relative);
  return sync_fd(cfd, path);
}

/* fsync each chain directory a step of J names, once. */
static int
sync_chains(struct vk_repo *r, const struct vk_journal *j)
{
  for (size_t i = 0; i < j->nr_steps; i++) {
    const char *n = j->steps[i].name;
    size_t len = j->steps[i].type == VK_STEP_FILE ? strcspn(n, "/") : strlen(n);
    bool seen = false;
    for (size_t k = 0; k < i && !seen; k++)
      seen = strncmp(j->steps[k].name, n, len) == 0 &&
             (j->steps[k].name[len] == '/' || j->steps[k].name[len] == '\0');
    if (seen || j->steps[i].action != VK_STEP_CREATE)
      continue;
    CLEANUP_FREE char *chain = vk_xasprintf("%.*s", (int)len, n);
    CLEANUP_FREE char *path = vk_repo_path(r, chain);
    CLEANUP_CLOSE int cfd = openat(r->dirfd, chain, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (cfd < 0) {
      vk_error(VK_EXIT_FAILURE, "%s: %s", path, strerror(errno));
      return -1;
    }
    if (sync_fd(cfd, path) < 0)
      return -1;
  }
  return 0;
}

/* Commit transaction J (begun by vk_repo_merge_begin or
 * vk_repo_copy_begin) with NEXT, the whole manifest after it: check every
 * backup of NEXT, fsync the chain directories J wrote to, write NEXT (the
 * commit; HOOK, the test point, right after), finish J's steps, remove the
 * journal.  FN and WHAT name the caller and the transaction in messages.
 */
static int
txn_commit(struct vk_repo *r, struct vk_manifest *next, const struct vk_journal *j,
           const char *fn, const char *what, const char *hook)
{
  if (need_lock(r, fn) < 0)
    return -1;
  CLEANUP_FREE char *path = vk_repo_path(r, MANIFEST);
  for (size_t i = 0; i < next->nr_backups; i++)
    if (vk_manifest_check_backup(path, next, i, &next->backups[i]) < 0)
      return -1;
  if (!vk_journal_committed(j, next)) {
    vk_error(VK_EXIT_FAILURE, "internal error: the %s's new manifest does not commit it "
             "(its commit mark %s)", what, j->commit_id);
    return -1;
  }
  if (sync_chains(r, j) < 0)
    return -1;
  CLEANUP_XMLDOC xmlDocPtr doc = vk_manifest_build(next, NULL);
  if (write_doc(r, doc, MANIFEST) < 0)
    return -1;
  r->have_manifest = true;
  vk_test_hook(hook);
  /* Committed: the old files go, then the journal. */
  vk_manifest_clear(&r->m);
  r->m = *next;
  memset(next, 0, sizeof *next);
  int failed = vk_journal_roll_forward(j, r->dirfd, r->dir, &r->m);
  if (failed) {
    vk_error(VK_EXIT_FAILURE, "%d file%s of the %s could not be removed (above); the "
             "journal %s/%s is kept and the next run removes them", failed,
             failed == 1 ? "" : "s", what, r->dir, JOURNAL);
    return -1;
  }
  return remove_journal(r);
}

/* Roll back transaction J (not committed): remove what it made. */
static int
txn_abort(struct vk_repo *r, const struct vk_journal *j, const char *fn, const char *what)
{
  if (need_lock(r, fn) < 0)
    return -1;
  int failed = vk_journal_roll_back(j, r->dirfd, r->dir, &r->m);
  if (failed) {
    vk_error(VK_EXIT_FAILURE, "%d file%s of the %s could not be removed (above); the "
             "journal %s/%s is kept and the next run removes them", failed,
             failed == 1 ? "" : "s", what, r->dir, JOURNAL);
    return -1;
  }
  return remove_journal(r);
}

int
vk_repo_merge_commit(struct vk_repo *r, struct vk_manifest *next, const struct vk_journal *j)
{
  return txn_commit(r, next, j, "vk_repo_merge_commit", "merge", "merge-committed");
}

int
vk_repo_merge_abort(struct vk_repo *r, const struct vk_journal *j)
{
  return txn_abort(r, j, "vk_repo_merge_abort", "merge");
}

int
vk_repo_copy_commit(struct vk_repo *r, struct vk_manifest *next, const struct vk_journal *j)
{
  return txn_commit(r, next, j, "vk_repo_copy_commit", "copy", "copy-committed");
}

int
vk_repo_copy_abort(struct vk_repo *r, const struct vk_journal *j)
{
  return txn_abort(r, j, "vk_repo_copy_abort", "copy");
}

int
vk_repo_merge_remove(struct vk_repo *r, const struct vk_journal *j, const char *relative)
{
  if (need_lock(r, "vk_repo_merge_remove") < 0)
    return -1;
  bool created = false;
  for (size_t i = 0; i < j->nr_steps && !created; i++)
    created = j->steps[i].action == VK_STEP_CREATE && j->steps[i].type == VK_STEP_FILE &&
              strcmp(j->steps[i].name, relative) == 0;
  const char *slash = strchr(relative, '/');
  if (!created || !slash || vk_manifest_has_file(&r->m, relative)) {
    vk_error(VK_EXIT_FAILURE, "internal error: %s/%s is not a file the merge made", r->dir,
             relative);
    return -1;
  }
  /* Through the chain directory, opened without following a link. */
  CLEANUP_FREE char *chain = vk_xasprintf("%.*s", (int)(slash - relative), relative);
  CLEANUP_FREE char *path = vk_repo_path(r, relative);
  CLEANUP_CLOSE int cfd = openat(r->dirfd, chain, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (cfd < 0 || unlinkat(cfd, slash + 1, 0) < 0) {
    vk_error(VK_EXIT_FAILURE, "cannot remove %s: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

const struct vk_backup *
vk_repo_pending(const struct vk_repo *r)
{
  return r->pending;
}

int
vk_repo_recover(struct vk_repo *r)
{
  if (need_lock(r, "vk_repo_recover") < 0)
    return -1;
  if (!r->pending)
    return 0;
  vk_debug("rolling back interrupted backup %s", r->pending->id);
  if (remove_backup_files(r, r->pending) < 0 || remove_journal(r) < 0)
    return -1;
  vk_backup_free(r->pending);
  r->pending = NULL;
  return 0;
}
