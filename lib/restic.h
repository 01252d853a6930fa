/* vckpt - second copies in a restic repository: restic (the Debian
 * package restic) as the off-site engine (encryption, deduplication,
 * compression, every backend restic has).
 *
 * A copy of a domain is one restic snapshot of its repository directory
 * REPO/DOMAIN, taken by `restic backup` run in that directory (so the
 * snapshot's tree is the domain directory itself) under the repository's
 * shared lock: a committed state, never a backup being made (a journal
 * left by a killed run refuses the copy), without the lock file and the
 * temporary files of writes under way (vk_repo_transient).  It is tagged
 * "vckpt", "domain=DOMAIN" and "backup=ID" (the manifest's newest backup);
 * its host is this host's name, given explicitly so restic finds the
 * previous copy of the same directory as its parent.
 *
 * restic runs without a shell (process.h), its argv[0] the restic found in
 * PATH, in a process group of its own and killed when vckpt dies; a stop
 * signal sends it SIGINT (restic then removes its lock).  Its environment
 * is vckpt's (RESTIC_PASSWORD_FILE, RESTIC_PASSWORD_COMMAND, the backends'
 * credentials...) with TZ=UTC0: snapshot times are recorded in UTC, the
 * time retention's periods are counted in, as vckpt's own.  Its password
 * comes from restic's environment or --password-file (passed to restic as
 * its own --password-file); with neither, vckpt refuses before running it.
 *
 * restic's failures are passed on with its own message (the end of its
 * standard error) and mapped to vckpt's exit codes (util.h):
 *   restic not in PATH                        VK_EXIT_NOT_FOUND (3)
 *   no repository there, no such snapshot     VK_EXIT_NOT_FOUND (3)
 *   no password given, restic refused it      VK_EXIT_USAGE (2)
 *   restic's repository lock held             VK_EXIT_BUSY (5)
 *   a stop signal                             VK_EXIT_INTERRUPTED (6)
 *   anything else                             VK_EXIT_FAILURE (1)
 * restic 0.17 and later say some of these by their exit code (10, 11, 12);
 * older ones (Debian 12 has 0.14) by a "Fatal:" message, recognised too.
 */
#ifndef VCKPT_RESTIC_H
#define VCKPT_RESTIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libvirt/libvirt.h>

#include "manifest.h"
#include "restore.h"
#include "retention.h"
#include "validate.h"

/* What names a restic repository where vckpt takes a directory. */
#define VK_RESTIC_PREFIX "restic:"

/* Whether WHERE (copy's --to, --from) names a restic repository. */
bool vk_restic_is(const char *where);

/* A restic repository and the copies of one domain in it. */
struct vk_restic_request {
  const char *where;          /* "restic:REPOSITORY", as restic's -r takes it */
  const char *password_file;  /* --password-file, or NULL: restic's environment */
  const char *domain;
  const char *snapshot;       /* a snapshot id (or its start) holding DOMAIN;
                                 NULL: the newest copy of DOMAIN */
};

/* One snapshot holding a copy of a domain. */
struct vk_restic_snapshot {
  char *id;                   /* restic's id as restic backup reports it (0.14: short, 0.18: full) */
  char *time;                 /* as restic records it (RFC 3339) */
  char *backup;               /* the newest backup it holds (tag backup=), or NULL */
  char *host;
};
void vk_restic_snapshot_clear(struct vk_restic_snapshot *s);

/* What a copy added. */
struct vk_restic_copied {
  struct vk_restic_snapshot snap;
  uint64_t files_new, files_changed, files_unmodified;
  uint64_t bytes_processed;   /* the domain directory's bytes read */
  uint64_t bytes_added;       /* new data in the restic repository, before compression */
};
void vk_restic_copied_clear(struct vk_restic_copied *c);

/* Copy REPO_DIR/REQ->domain into the restic repository REQ->where: one new
 * snapshot (see above), taken under the shared lock of the domain's
 * repository.  REQ->snapshot is not used.  A repository without backups is
 * VK_EXIT_NOT_FOUND, a journal in it VK_EXIT_BUSY (the next backup or prune
 * finishes it).  0 with *OUT, or -1 (reported).
 */
int vk_restic_copy(const struct vk_restic_request *req, const char *repo_dir,
                   struct vk_restic_copied *out);

/* The manifest of REQ->domain in its newest copy (or REQ->snapshot):
 * dumped by restic, read and checked as the repository's own is.  0 with
 * *SNAP and *M (vk_manifest_clear), or -1 (reported).
 */
int vk_restic_manifest(const struct vk_restic_request *req, struct vk_restic_snapshot *snap,
                       struct vk_manifest *m);

/* vk_restore from a copy: RR as for vk_restore (RR->repo_dir unused).
 * restic restores the manifest, then the chain directory of the backup
 * RR->at chooses, into a private staging directory in RR->to
 * (.vckpt-restic-XXXXXX, 0700, removed on every path; one a killed run
 * left is swept by the next), which vk_restore reads as a repository,
 * checking every file's size and checksum.  *SNAP gets the snapshot used.
 */
int vk_restic_restore(virConnectPtr conn, const struct vk_restic_request *req,
                      const struct vk_restore_request *rr, struct vk_restic_snapshot *snap,
                      char **backup_id, struct vk_restored **out, size_t *n);

/* Stage a copy for reading as a repository (files ls, get, diff): restic
 * restores REQ->domain's manifest of its newest copy (or REQ->snapshot)
 * into DIR/DOMAIN, then the chain directory of each of the backups ATS (N
 * of them, ids or checkpoints; N 0: the newest backup).  DIR (DIRFD) is
 * in the caller's private directory, whose descriptor HOLDFD restic holds
 * too (its lock lasts while restic writes); nothing is checked
 * here beyond what restic checks: read DIR as a repository, whose every
 * file the reader checks against the staged manifest.  0 with *SNAP, or
 * -1 (reported).
 */
int vk_restic_stage(const struct vk_restic_request *req, const char *dir, int dirfd, int holdfd,
                    const char *const *ats, size_t n, struct vk_restic_snapshot *snap);

/* Verify a copy: `restic check` (the restic repository's structure; its
 * errors are a finding, restic-check), then every disk and state file the
 * copy's manifest lists is dumped by restic straight into the hasher and
 * compared with its recorded checksum (file-missing, copy-unreadable,
 * checksum-mismatch); the saved domain and checkpoint XML, which have
 * none, are read back whole.  Nothing is written.  0 with the findings in *REP,
 * the backups and disk files in *NB and *NF; -1 when it could not be
 * done (reported).
 */
int vk_restic_verify(const struct vk_restic_request *req, struct vk_report *rep,
                     struct vk_restic_snapshot *snap, size_t *nb, size_t *nf);

/* One snapshot as retention judged it. */
struct vk_restic_kept {
  struct vk_restic_snapshot snap;
  bool kept;
  char *reasons;              /* restic's, joined by ",": "last snapshot,daily snapshot" */
};
struct vk_restic_prune_result {
  struct vk_restic_kept *snaps;   /* oldest first */
  size_t n, kept, removed;
};
void vk_restic_prune_result_clear(struct vk_restic_prune_result *res);

/* Retention in the restic repository: `restic forget` of REQ->domain's
 * snapshots (tag domain=, one group whatever their host and path) with
 * POL's rules as restic's --keep-* (the same rules; the newest snapshot is
 * always kept, as vckpt keeps its newest backup), then `restic prune`
 * unless DRY_RUN (then nothing changes).  0 with *RES, or -1 (reported).
 */
int vk_restic_prune(const struct vk_restic_request *req, const struct vk_retention *pol,
                    bool dry_run, struct vk_restic_prune_result *res);

#endif
