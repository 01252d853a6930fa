/* vckpt - retention: prune a domain's backups, merging what expires into
 * the points kept (prune.h); the checkpoints they no longer need go
 * through follow.h.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libvirt/virterror.h>

#include "backup.h"
#include "checkpoint.h"
#include "checksum.h"
#include "fileio.h"
#include "follow.h"
#include "instant.h"
#include "job.h"
#include "journal.h"
#include "policy.h"
#include "process.h"
#include "prune.h"
#include "qcow2.h"
#include "repo.h"
#include "state.h"
#include "testhook.h"
#include "util.h"
#include "virt.h"

/* One file rewritten: disk DI of kept backup BI. */
struct op {
  size_t bi, di;
  char *from, *to;        /* relative names */
  char *rebase_old;       /* safe rebase onto this (old, relative) file; "" standalone;
                             NULL: header only */
  char *onto;             /* the backing file afterwards (relative), or NULL */
  char **sources;         /* files whose data land in TO (checked against the manifest) */
  uint64_t bytes;
  /* A zstd-compressed FROM (backup --compress) rewritten by a rebase: the
   * rebase writes plain clusters, so it rebases a copy under the name MID
   * and qemu-img convert -c writes TO from it, compressed again, with
   * FROM's cluster size (1 << CLUSTER_BITS).
   */
  bool compress;
  uint32_t cluster_bits;
  char *mid;
};

struct plan {
  const struct vk_manifest *m;   /* the repository's: the old manifest until the
                                    merge commits, the new one after */
  size_t n;
  unsigned *reasons;
  int *new_parent;        /* index in M, -1: none */
  bool *promoted;
  bool *sibling;          /* NEW_PARENT is the chain's new full, not an ancestor */
  char ***new_file;       /* [backup][disk]: the new relative name, or NULL */
  size_t *nr_disks;       /* of each backup (M changes when the merge commits) */
  size_t nr_ops;
  struct op *ops;
  struct vk_manifest next;
  long long now;          /* the clock when the plan was made */
  struct vk_time_check *clock;   /* [backup]: what is wrong with its time */
  size_t wrong_times;     /* how many times cannot be right */
};

static void
plan_clear(struct plan *p)
{
  for (size_t i = 0; i < p->n; i++) {
    if (p->new_file && p->new_file[i]) {
      for (size_t d = 0; d < p->nr_disks[i]; d++)
        free(p->new_file[i][d]);
      free(p->new_file[i]);
    }
  }
  free(p->new_file);
  free(p->nr_disks);
  for (size_t i = 0; i < p->nr_ops; i++) {
    free(p->ops[i].from);
    free(p->ops[i].to);
    free(p->ops[i].rebase_old);
    free(p->ops[i].onto);
    free(p->ops[i].mid);
    vk_strv_free(p->ops[i].sources);
  }
  free(p->ops);
  free(p->reasons);
  free(p->new_parent);
  free(p->promoted);
  free(p->sibling);
  free(p->clock);
  vk_manifest_clear(&p->next);
  memset(p, 0, sizeof *p);
}

/* The index of backup ID in M, or -1. */
static int
index_of(const struct vk_manifest *m, const char *id)
{
  for (size_t i = 0; id && i < m->nr_backups; i++)
    if (strcmp(m->backups[i].id, id) == 0)
      return (int)i;
  return -1;
}

/* The backup and disk whose file is REL in M: 0, or -1. */
static int
find_file(const struct vk_manifest *m, const char *rel, size_t *bi, size_t *di)
{
  for (size_t i = 0; i < m->nr_backups; i++)
    for (size_t d = 0; d < m->backups[i].nr_disks; d++)
      if (strcmp(m->backups[i].disks[d].file, rel) == 0) {
        *bi = i;
        *di = d;
        return 0;
      }
  return -1;
}

/* The size recorded for disk file D (0 when unknown). */
static uint64_t
recorded_size(const struct vk_backup_disk *d)
{
  return d->file_size ? d->file_size : d->bytes;
}

/* The kept root of CHAIN among the first UPTO backups: a kept full backup
 * or a point promoted to full; -1 if none.
 */
static int
chain_root(const struct plan *p, const char *chain, size_t upto)
{
  for (size_t k = 0; k < upto; k++) {
    const struct vk_backup *b = &p->m->backups[k];
    if (p->reasons[k] && strcmp(b->chain, chain) == 0 &&
        (b->level == VK_LEVEL_FULL || p->promoted[k]))
      return (int)k;
  }
  return -1;
}

/* A name for a revision of disk file D of B after revision AFTER that
 * nothing uses.
 */
static char *
next_revision(const struct vk_repo *r, const struct vk_backup *b, const struct vk_backup_disk *d,
              unsigned after)
{
  for (unsigned rev = after + 1; rev <= VK_MAX_REV; rev++) {
    char *name = vk_backup_disk_file_at(b->chain, b->id, d->target, rev);
    if (!vk_manifest_has_file(vk_repo_manifest(r), name) && vk_repo_file_absent(r, name))
      return name;
    free(name);
  }
  vk_error(VK_EXIT_FAILURE, "backup %s: disk %s: no free name for a new revision of %s",
           b->id, d->target, d->file);
  return NULL;
}

/* Whether disk file D of B is zstd-compressed (its qcow2 header's
 * compression type: what backup --compress makes): 1 (with its cluster
 * size in *CLUSTER_BITS), 0, or -1 (reported) when its header cannot be read.
 */
static int
compressed(const struct vk_repo *r, const struct vk_backup *b, const struct vk_backup_disk *d,
           uint32_t *cluster_bits)
{
  CLEANUP_FREE char *path = vk_repo_file_where(r, d->file);
  struct stat st;
  CLEANUP_CLOSE int fd = vk_repo_open_file(r, d->file, &st);
  if (fd < 0) {
    vk_error(errno == ENOENT ? VK_EXIT_NOT_FOUND : VK_EXIT_FAILURE, "backup %s: %s: %s; "
             "nothing is merged (see 'vckpt verify')", b->id, path, vk_open_error(errno, &st));
    return -1;
  }
  struct vk_source src = { .opaque = &fd, .size = st.st_size, .pread = vk_fd_pread };
  struct vk_image img;
  CLEANUP_FREE char *err = NULL;
  if (vk_image_parse(&src, path, "qcow2", &img, &err) < 0) {
    vk_error(VK_EXIT_FAILURE, "backup %s: %s; nothing is merged (see 'vckpt verify')", b->id,
             err ? err : "out of memory");
    return -1;
  }
  int zstd = img.format == VK_FMT_QCOW2 && img.compression_type == 1;
  *cluster_bits = img.cluster_bits;
  vk_image_clear(&img);
  return zstd;
}

/* Decide the file of disk DI of kept backup I (see prune.h); adds an op
 * when it must be rewritten.
 */
static int
plan_disk(struct plan *p, const struct vk_repo *r, size_t i, size_t di)
{
  const struct vk_manifest *m = p->m;
  const struct vk_backup *b = &m->backups[i];
  const struct vk_backup_disk *od = &b->disks[di];
  if (!od->backing)
    return 0;                   /* standalone already: stays as it is */
  /* The nearest file below it that a kept point owns, and those between. */
  CLEANUP_STRV char **sources = NULL;
  vk_strv_push(&sources, vk_xstrdup(od->file));
  uint64_t bytes = recorded_size(od);
  const char *target = NULL;
  size_t towner = 0, tdisk = 0;
  for (const char *f = od->backing; f; ) {
    size_t ob, odi;
    if (find_file(m, f, &ob, &odi) < 0) {
      vk_error(VK_EXIT_FAILURE, "backup %s: disk %s: its backing file %s is not in the "
               "manifest", b->id, od->target, f);
      return -1;
    }
    if (p->reasons[ob]) {
      target = f;
      towner = ob;
      tdisk = odi;
      break;
    }
    vk_strv_push(&sources, vk_xstrdup(f));
    bytes += recorded_size(&m->backups[ob].disks[odi]);
    f = m->backups[ob].disks[odi].backing;
  }

  struct op op = { .bi = i, .di = di };
  int np = p->new_parent[i];
  if (target && (int)towner != np) {
    vk_error(VK_EXIT_FAILURE, "internal error: backup %s: disk %s stacks on %s, not on the "
             "point's new parent", b->id, od->target, target);
    return -1;
  }
  if (target) {
    const char *renamed = p->new_file[towner][tdisk];
    if (strcmp(target, od->backing) == 0) {
      if (!renamed)
        return 0;               /* its parent stays as it is */
      op.onto = vk_xstrdup(renamed);   /* header only */
      bytes = recorded_size(od);
    } else {
      op.rebase_old = vk_xstrdup(target);
      op.onto = vk_xstrdup(renamed ? renamed : target);
    }
  } else if (np >= 0 && p->sibling[i]) {
    /* A sibling of the chain's new full: stacked on that full's file when
     * it has the disk (a safe rebase compares the two views).
     */
    const struct vk_backup *pb = &m->backups[np];
    const struct vk_backup_disk *pd = vk_backup_find_disk(pb, od->target);
    if (pd) {
      const char *renamed = p->new_file[np][pd - pb->disks];
      op.rebase_old = vk_xstrdup(pd->file);
      op.onto = vk_xstrdup(renamed ? renamed : pd->file);
    } else
      op.rebase_old = vk_xstrdup("");
  } else {
    /* The chain's new full, or a disk whose chain ends (copied whole)
     * below the kept ancestor: standalone.
     */
    op.rebase_old = vk_xstrdup("");
  }
  op.from = vk_xstrdup(od->file);
  op.to = next_revision(r, b, od, vk_backup_disk_file_rev(b, od));
  int zstd = op.to && op.rebase_old ? compressed(r, b, od, &op.cluster_bits) : 0;
  if (zstd > 0) {
    /* The copy the rebase works on: a revision after TO's. */
    struct vk_backup_disk at = *od;
    at.file = op.to;
    op.compress = true;
    op.mid = next_revision(r, b, od, vk_backup_disk_file_rev(b, &at));
  }
  if (!op.to || zstd < 0 || (op.compress && !op.mid)) {
    free(op.from);
    free(op.to);
    free(op.mid);
    free(op.rebase_old);
    free(op.onto);
    return -1;
  }
  if (!op.rebase_old) {
    /* A header-only rewrite copies the file alone. */
    vk_strv_free(sources);
    sources = NULL;
    vk_strv_push(&sources, vk_xstrdup(od->file));
  }
  op.sources = sources;
  sources = NULL;
  op.bytes = bytes;
  p->new_file[i][di] = vk_xstrdup(op.to);
  p->ops = vk_xrealloc(p->ops, (p->nr_ops + 1) * sizeof *p->ops);
  p->ops[p->nr_ops++] = op;
  return 0;
}

/* Keep every backup a domain runs from (restore --instant records it in
 * instant.json until restore --finish) and each backup it stacks on: its
 * overlays name those files, which must stay as they are.  -1 if the
 * record exists but cannot be read (reported): nothing is pruned then.
 */
static int
keep_instant(const struct vk_repo *r, const struct vk_manifest *m, unsigned *reasons)
{
  CLEANUP_STRV char **ids = NULL;
  if (vk_instant_live_backups(r, &ids) < 0)
    return -1;
  for (size_t i = 0; ids[i]; i++)
    for (int k = index_of(m, ids[i]); k >= 0; k = index_of(m, m->backups[k].parent))
      reasons[k] |= VK_KEEP_INSTANT;
  return 0;
}

/* Decide everything: who is kept, new parents, files to rewrite, and the
 * manifest afterwards.
 */
static int
plan_make(struct plan *p, const struct vk_repo *r, const struct vk_retention *pol)
{
  const struct vk_manifest *m = vk_repo_manifest(r);
  p->m = m;
  p->n = m->nr_backups;
  p->reasons = vk_xcalloc(p->n + 1, sizeof *p->reasons);
  p->new_parent = vk_xcalloc(p->n + 1, sizeof *p->new_parent);
  p->promoted = vk_xcalloc(p->n + 1, sizeof *p->promoted);
  p->sibling = vk_xcalloc(p->n + 1, sizeof *p->sibling);
  p->new_file = vk_xcalloc(p->n + 1, sizeof *p->new_file);
  p->nr_disks = vk_xcalloc(p->n + 1, sizeof *p->nr_disks);
  long long *times = vk_xcalloc(p->n + 1, sizeof *times);
  for (size_t i = 0; i < p->n; i++) {
    times[i] = m->backups[i].start;
    p->new_file[i] = vk_xcalloc(m->backups[i].nr_disks + 1, sizeof **p->new_file);
    p->nr_disks[i] = m->backups[i].nr_disks;
  }
  /* The manifest's order is the order the backups were made in: a time
   * that disagrees with it, or lies in the future, expires nothing.
   */
  p->now = time(NULL);
  p->clock = vk_manifest_check_times(m, p->now, &p->wrong_times);
  vk_retention_select(pol, times, p->n, p->now, p->reasons);
  free(times);
  if (keep_instant(r, m, p->reasons) < 0)
    return -1;

  p->next.domain = vk_xstrdup(m->domain);
  p->next.uuid = m->uuid ? vk_xstrdup(m->uuid) : NULL;
  p->next.second_copy = m->second_copy;
  p->next.backups = vk_xcalloc(p->n + 1, sizeof *p->next.backups);
  for (size_t i = 0; i < p->n; i++) {
    const struct vk_backup *b = &m->backups[i];
    p->new_parent[i] = -1;
    if (!p->reasons[i])
      continue;
    int a = -1;
    for (int k = index_of(m, b->parent); k >= 0; k = index_of(m, m->backups[k].parent))
      if (p->reasons[k]) {
        a = k;
        break;
      }
    if (b->level != VK_LEVEL_FULL) {
      if (a >= 0)
        p->new_parent[i] = a;
      else if ((p->new_parent[i] = chain_root(p, b->chain, i)) < 0)
        p->promoted[i] = true;
      else
        p->sibling[i] = true;
    }
    for (size_t d = 0; d < b->nr_disks; d++)
      if (plan_disk(p, r, i, d) < 0)
        return -1;

    struct vk_backup *nb = &p->next.backups[p->next.nr_backups++];
    vk_backup_copy(nb, b);
    int np = p->new_parent[i];
    if (p->promoted[i]) {
      nb->level = VK_LEVEL_FULL;
      free(nb->parent);
      free(nb->since);
      nb->parent = nb->since = NULL;
      if (!nb->note)
        nb->note = vk_xstrdup("made its chain's full backup by prune: the full backup it "
                              "stacked on expired and was merged into it");
    } else if (np >= 0 && strcmp(m->backups[np].id, b->parent) != 0) {
      free(nb->parent);
      free(nb->since);
      nb->parent = vk_xstrdup(m->backups[np].id);
      nb->since = vk_xstrdup(m->backups[np].checkpoint);
    }
    for (size_t d = 0; d < nb->nr_disks; d++) {
      const char *nf = p->new_file[i][d];
      if (!nf)
        continue;
      const struct op *o = NULL;
      for (size_t k = 0; k < p->nr_ops && !o; k++)
        if (p->ops[k].bi == i && p->ops[k].di == d)
          o = &p->ops[k];
      free(nb->disks[d].file);
      free(nb->disks[d].backing);
      free(nb->disks[d].checksum);
      nb->disks[d].file = vk_xstrdup(nf);
      nb->disks[d].backing = o && o->onto ? vk_xstrdup(o->onto) : NULL;
      nb->disks[d].checksum = NULL;   /* sealed with the new algorithm */
      nb->disks[d].file_size = 0;
    }
  }
  return 0;
}

/* ---- carrying it out ---- */

/* Check the file REL against the size and checksum the manifest records. */
static int
check_source(struct vk_repo *r, const char *rel)
{
  size_t bi, di;
  const struct vk_manifest *m = vk_repo_manifest(r);
  if (find_file(m, rel, &bi, &di) < 0)
    return -1;
  const struct vk_backup_disk *d = &m->backups[bi].disks[di];
  CLEANUP_FREE char *path = vk_repo_file_where(r, rel);
  struct stat st;
  CLEANUP_CLOSE int fd = vk_repo_open_file(r, rel, &st);
  if (fd < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s: nothing is merged (see 'vckpt verify')", path,
             vk_open_error(errno, &st));
    return -1;
  }
  char hex[VK_SUM_HEX_MAX];
  if (vk_sum_fd(d->checksum_type, fd, path, hex) < 0)
    return -1;
  if ((d->file_size && (uint64_t)st.st_size != d->file_size) ||
      !d->checksum || strcmp(hex, d->checksum) != 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s mismatch: %s, the manifest records %s: the file "
             "changed since the backup; nothing is merged (see 'vckpt verify')", path,
             vk_sum_name(d->checksum_type), hex, d->checksum ? d->checksum : "none");
    return -1;
  }
  return 0;
}

/* Copy REL_FROM to the new file REL_TO (created, mode 0600). */
static int
copy_file(struct vk_repo *r, const char *rel_from, const char *rel_to)
{
  CLEANUP_FREE char *from = vk_repo_file_where(r, rel_from);
  CLEANUP_FREE char *to = vk_repo_file_where(r, rel_to);
  struct stat st;
  CLEANUP_CLOSE int in = vk_repo_open_file(r, rel_from, &st);
  if (in < 0) {
    vk_error(errno == ENOENT ? VK_EXIT_NOT_FOUND : VK_EXIT_FAILURE, "%s: %s", from,
             vk_open_error(errno, &st));
    return -1;
  }
  CLEANUP_CLOSE int out = vk_repo_create_fd(r, rel_to);
  if (out < 0)
    return -1;
  /* copy_file_range shares the blocks where the file system can (XFS,
   * Btrfs); otherwise the kernel copies them.
   */
  bool plain = false;
  for (;;) {
    ssize_t n;
    if (!plain) {
      n = copy_file_range(in, NULL, out, NULL, 64 << 20, 0);
      if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
                    errno == EOPNOTSUPP)) {
        plain = true;
        continue;
      }
    } else {
      static char buf[1 << 16];
      n = read(in, buf, sizeof buf);
      if (n > 0 && vk_write_all(out, buf, n, to) < 0)
        return -1;
    }
    if (n < 0) {
      if (errno == EINTR && !vk_stop_signal)
        continue;
      vk_error(errno == EINTR ? VK_EXIT_INTERRUPTED : VK_EXIT_FAILURE, "copying %s to %s: %s",
               from, to, errno == EINTR ? "interrupted" : strerror(errno));
      return -1;
    }
    if (n == 0)
      return 0;
    if (vk_stop_signal) {
      vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d while copying %s",
               (int)vk_stop_signal, from);
      return -1;
    }
  }
}

/* Run qemu-img ARGV (its command: rebase, convert); a stop signal ends it
 * and makes it an interruption.
 */
static int
run_qemu_img(char *const argv[], const char *what)
{
  const char *verb = argv[1];
  int status = 0;
  CLEANUP_FREE char *msg = NULL;
  if (vk_spawn(argv, -1, vk_stop_fd(), &status, &msg) < 0)
    return -1;
  if (vk_stop_signal) {
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d while qemu-img %s %s",
             (int)vk_stop_signal, strcmp(verb, "convert") == 0 ? "converted" : "rebased", what);
    return -1;
  }
  if (status != 0) {
    CLEANUP_FREE char *shown = msg ? vk_printable_text(msg) : NULL;
    vk_error(VK_EXIT_FAILURE, "%s: qemu-img %s failed: %s", what, verb,
             shown && *shown ? shown : "no message");
    return -1;
  }
  return 0;
}

/* The base name of relative file REL (both are in one chain directory). */
static const char *
base_name(const char *rel)
{
  const char *s = strrchr(rel, '/');
  return s ? s + 1 : rel;
}

/* Write TO, the compressed form of the rebased copy MID (op): only the
 * clusters MID holds itself (-B: the backing file is its own), each
 * compressed, zeros as zero clusters.  TO is made first, empty and 0600:
 * qemu-img writes into it and leaves its mode alone.
 */
static int
compress_copy(struct vk_repo *r, const struct vk_journal *j, const struct op *op)
{
  CLEANUP_FREE char *mid = vk_repo_target(r, op->mid);
  CLEANUP_FREE char *to = vk_repo_target(r, op->to);
  CLEANUP_CLOSE int fd = vk_repo_create_fd(r, op->to);
  if (fd < 0)
    return -1;
  CLEANUP_FREE char *opts = vk_xasprintf("compression_type=zstd,cluster_size=%llu",
                                         1ULL << op->cluster_bits);
  char *argv[20] = { (char *)QEMU_IMG, "convert", "-q", "-c", "-f", "qcow2", "-O", "qcow2",
                     "-o", opts };
  size_t n = 10;
  if (*op->rebase_old) {
    argv[n++] = "-B";
    argv[n++] = (char *)base_name(op->rebase_old);
    argv[n++] = "-F";
    argv[n++] = "qcow2";
  }
  argv[n++] = mid;
  argv[n++] = to;
  if (run_qemu_img(argv, to) < 0)
    return -1;
  return vk_repo_merge_remove(r, j, op->mid);
}

/* Write the new file of OP. */
static int
do_op(struct vk_repo *r, const struct vk_journal *j, const struct op *op)
{
  CLEANUP_FREE char *to = vk_repo_target(r, op->compress ? op->mid : op->to);
  if (copy_file(r, op->from, op->compress ? op->mid : op->to) < 0)
    return -1;
  if (op->rebase_old) {
    char *safe[] = { (char *)QEMU_IMG, "rebase", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                     (char *)base_name(op->rebase_old), to, NULL };
    char *alone[] = { (char *)QEMU_IMG, "rebase", "-q", "-f", "qcow2", "-b", "", to, NULL };
    if (run_qemu_img(*op->rebase_old ? safe : alone, to) < 0)
      return -1;
  }
  if (op->compress) {
    if (compress_copy(r, j, op) < 0)
      return -1;
    free(to);
    to = vk_repo_target(r, op->to);
  }
  if (op->onto && (!op->rebase_old || strcmp(op->onto, op->rebase_old) != 0)) {
    /* The same data under a new name: the header alone changes. */
    char *hdr[] = { (char *)QEMU_IMG, "rebase", "-q", "-u", "-f", "qcow2", "-F", "qcow2", "-b",
                    (char *)base_name(op->onto), to, NULL };
    if (run_qemu_img(hdr, to) < 0)
      return -1;
  }
  return 0;
}

/* Build the journal of plan P. */
static void
plan_journal(const struct plan *p, struct vk_journal *j)
{
  const struct vk_manifest *m = p->m;
  j->kind = VK_TXN_MERGE;
  j->commit_listed = false;
  for (size_t i = 0; i < p->n && !j->commit_id; i++)
    if (!p->reasons[i])
      j->commit_id = vk_xstrdup(m->backups[i].id);
  for (size_t k = 0; k < p->nr_ops; k++) {
    vk_journal_add_step(j, VK_STEP_CREATE, VK_STEP_FILE, p->ops[k].to);
    if (p->ops[k].mid)
      vk_journal_add_step(j, VK_STEP_CREATE, VK_STEP_FILE, p->ops[k].mid);
  }
  for (size_t k = 0; k < p->nr_ops; k++) {
    vk_journal_add_step(j, VK_STEP_REMOVE, VK_STEP_FILE, p->ops[k].from);
    /* Removed before the commit; a step all the same. */
    if (p->ops[k].mid)
      vk_journal_add_step(j, VK_STEP_REMOVE, VK_STEP_FILE, p->ops[k].mid);
  }
  for (size_t i = 0; i < p->n; i++) {
    const struct vk_backup *b = &m->backups[i];
    if (p->reasons[i])
      continue;
    for (size_t d = 0; d < b->nr_disks; d++)
      vk_journal_add_step(j, VK_STEP_REMOVE, VK_STEP_FILE, b->disks[d].file);
    vk_journal_add_step(j, VK_STEP_REMOVE, VK_STEP_FILE, b->domain_xml);
    /* A checkpoint's record stays while a kept full backup has it as its
     * differential base (plan_bases).
     */
    if (!vk_manifest_has_file(&p->next, b->checkpoint_xml))
      vk_journal_add_step(j, VK_STEP_REMOVE, VK_STEP_FILE, b->checkpoint_xml);
    if (b->base.record && !vk_manifest_has_file(&p->next, b->base.record))
      vk_journal_add_step(j, VK_STEP_REMOVE, VK_STEP_FILE, b->base.record);
    vk_journal_state_steps(j, b, VK_STEP_REMOVE);
  }
  for (size_t i = 0; i < p->n; i++) {
    const struct vk_backup *b = &m->backups[i];
    if (b->level != VK_LEVEL_FULL || vk_manifest_has_chain(&p->next, b->chain))
      continue;
    bool seen = false;
    for (size_t k = 0; k < i && !seen; k++)
      seen = m->backups[k].level == VK_LEVEL_FULL && strcmp(m->backups[k].chain, b->chain) == 0;
    if (!seen)
      vk_journal_add_step(j, VK_STEP_REMOVE, VK_STEP_DIRECTORY, b->chain);
  }
}

/* Carry out plan P on R: one merge transaction. */
static int
plan_run(struct plan *p, struct vk_repo *r, const struct vk_flow_cb *cb)
{
  /* What is copied must be what was backed up, and the chains read sound. */
  CLEANUP_STRV char **checked = NULL;
  for (size_t k = 0; k < p->nr_ops; k++) {
    const struct vk_backup *b = &p->m->backups[p->ops[k].bi];
    CLEANUP_FREE char *why = NULL;
    int rc = vk_repo_check_disk_chain(r, b, b->disks[p->ops[k].di].target, true, &why);
    if (rc != 0) {
      if (rc > 0)
        vk_error(VK_EXIT_FAILURE, "backup %s: %s: nothing is merged (see 'vckpt verify')",
                 b->id, why);
      return -1;
    }
    for (char **s = p->ops[k].sources; s && *s; s++) {
      if (checked && vk_strv_contains(checked, *s))
        continue;
      if (check_source(r, *s) < 0)
        return -1;
      vk_strv_push(&checked, vk_xstrdup(*s));
    }
  }

  struct vk_journal j = { .kind = VK_TXN_MERGE };
  plan_journal(p, &j);
  if (vk_repo_merge_begin(r, &j) < 0) {
    vk_journal_clear(&j);
    return -1;
  }
  int rc = 0;
  for (size_t k = 0; k < p->nr_ops && rc == 0; k++) {
    const struct op *op = &p->ops[k];
    vk_flow_message(cb, VK_MSG_DEBUG, "writing %s (%s)", op->to,
                    !op->rebase_old ? "new backing file name" :
                    *op->rebase_old ? "merged" : "made standalone");
    rc = do_op(r, &j, op);
    if (rc == 0) {
      struct vk_backup *nb = (struct vk_backup *)vk_manifest_find_id(
        &p->next, p->next.nr_backups, p->m->backups[op->bi].id);
      struct vk_backup_disk *nd = &nb->disks[op->di];
      rc = vk_repo_seal_disk(r, nd);
      if (rc == 0)
        (void)vk_repo_file_allocated(r, nd->file, &nd->bytes);   /* unknown: unchanged */
      if (rc == 0 && k == 0)
        vk_test_hook("merge-rewritten");   /* tests: after the first new file */
    }
  }
  if (rc == 0 && vk_stop_signal) {
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d before the merge was committed",
             (int)vk_stop_signal);
    rc = -1;
  }
  if (rc == 0) {
    rc = vk_repo_merge_commit(r, &p->next, &j);
    if (rc == 0 && vk_stop_signal)
      vk_flow_message(cb, VK_MSG_WARNING, "signal %d came too late to stop the prune: the "
                      "merge was committed and is complete", (int)vk_stop_signal);
  }
  if (rc < 0 && vk_manifest_find_id(vk_repo_manifest(r), vk_repo_manifest(r)->nr_backups,
                                    j.commit_id)) {
    /* Not committed: undo.  (A commit whose old files could not all be
     * removed keeps its journal for the next run.)
     */
    if (vk_repo_merge_abort(r, &j) == 0 && vk_stop_signal)
      vk_flow_message(cb, VK_MSG_WARNING, "prune interrupted: rolled back, every backup is "
                      "as it was");
  }
  vk_journal_clear(&j);
  return rc;
}

/* ---- prune ---- */

/* Warn about each backup whose recorded time cannot be right. */
static void
warn_times(const struct plan *p, const struct vk_flow_cb *cb)
{
  for (size_t i = 0; p->wrong_times && i < p->n; i++)
    if (p->clock[i].fault != VK_TIME_OK) {
      CLEANUP_FREE char *why = vk_manifest_time_fault(p->m, i, &p->clock[i], p->now);
      vk_flow_message(cb, VK_MSG_WARNING, "%s; %s", why, VK_TIME_FAULT_FIX);
    }
}

/* The differential base of each point this prune makes its chain's full
 * (manifest.h), in the chain of the newest backup (the only one whose
 * differentials are still taken): the expired full backup's checkpoint,
 * or that one's own base.  Its bitmaps have recorded every write since a
 * moment before the point, and it stays (checkpoints follow the
 * repository), while the point's own checkpoint was deleted when the next
 * backup was made.  None when the point is the newest backup (its own
 * checkpoint stays) or the expired full recorded no identity.
 */
static void
plan_bases(struct plan *p)
{
  const struct vk_manifest *m = p->m;
  if (p->n == 0)
    return;
  const char *chain = m->backups[p->n - 1].chain;
  for (size_t i = 0; i + 1 < p->n; i++) {
    if (!p->reasons[i] || !p->promoted[i] || strcmp(m->backups[i].chain, chain) != 0)
      continue;
    const struct vk_backup *full = NULL;
    for (size_t f = 0; f < i && !full; f++)
      if (m->backups[f].level == VK_LEVEL_FULL && strcmp(m->backups[f].chain, chain) == 0)
        full = &m->backups[f];
    const char *identity = NULL, *record = NULL;
    const char *since = full ? vk_backup_diff_since(full, &identity, &record) : NULL;
    struct vk_backup *nb = (struct vk_backup *)vk_manifest_find_id(&p->next, p->next.nr_backups,
                                                                   m->backups[i].id);
    if (!since || !identity || !nb)
      continue;
    nb->base.checkpoint = vk_xstrdup(since);
    nb->base.identity = vk_xstrdup(identity);
    nb->base.record = vk_xstrdup(record);
  }
}

/* Fill RES from plan P. */
static void
plan_result(const struct plan *p, struct vk_prune_result *res)
{
  const struct vk_manifest *m = p->m;
  res->nr_points = p->n;
  res->points = vk_xcalloc(p->n + 1, sizeof *res->points);
  for (size_t i = 0; i < p->n; i++) {
    const struct vk_backup *b = &m->backups[i];
    struct vk_prune_point *pt = &res->points[i];
    pt->id = vk_xstrdup(b->id);
    pt->chain = vk_xstrdup(b->chain);
    pt->level = b->level;
    pt->start = b->start;
    pt->reasons = p->reasons[i];
    pt->promoted = p->promoted[i];
    pt->time_fault = p->clock ? p->clock[i].fault : VK_TIME_OK;
    if (p->reasons[i]) {
      res->kept++;
      int np = p->new_parent[i];
      pt->new_parent = np >= 0 ? vk_xstrdup(m->backups[np].id) : NULL;
    } else
      res->expired++;
  }
  res->nr_files = p->nr_ops;
  res->files = vk_xcalloc(p->nr_ops + 1, sizeof *res->files);
  for (size_t k = 0; k < p->nr_ops; k++) {
    const struct op *op = &p->ops[k];
    const struct vk_backup *b = &m->backups[op->bi];
    struct vk_prune_file *f = &res->files[k];
    f->id = vk_xstrdup(b->id);
    f->target = vk_xstrdup(b->disks[op->di].target);
    f->from = vk_xstrdup(op->from);
    f->to = vk_xstrdup(op->to);
    f->onto = op->onto ? vk_xstrdup(op->onto) : NULL;
    f->header_only = !op->rebase_old;
    f->compressed = op->compress;
    f->bytes = op->bytes;
    res->bytes += op->bytes;
    /* The expired points whose data went into this file. */
    for (char **s = op->sources ? op->sources + 1 : NULL; s && *s; s++) {
      size_t bi, di;
      if (find_file(m, *s, &bi, &di) == 0 && !p->reasons[bi] && !res->points[bi].merged_into)
        res->points[bi].merged_into = vk_xstrdup(b->id);
    }
  }
}

/* Prune under vk_prune's catch of the stop signals. */
static int
prune_caught(const struct vk_prune_request *req, struct vk_prune_result *out)
{
  /* The domain, for its checkpoints: looked up first, so that a failure
   * to reach libvirt changes nothing in the repository.
   */
  virDomainPtr dom = NULL;
  if (req->conn) {
    dom = virDomainLookupByName(req->conn, req->domain);
    if (!dom && vk_virt_last_code() != VIR_ERR_NO_DOMAIN) {
      vk_virt_error("cannot look up domain '%s'", req->domain);
      return -1;
    }
    if (!dom)
      vk_flow_message(req->cb, VK_MSG_DEBUG, "domain '%s' is not defined: no checkpoint to "
                      "delete", req->domain);
  }
  struct vk_repo *r = NULL;
  if (vk_repo_open(req->repo_dir, req->domain, false, !req->dry_run, &r) < 0) {
    if (dom)
      virDomainFree(dom);
    return -1;
  }
  if (!req->dry_run && vk_repo_pending(r)) {
    vk_error(VK_EXIT_FAILURE, "backup %s of domain '%s' was interrupted: the next backup "
             "cleans it up; prune after it", vk_repo_pending(r)->id, req->domain);
    vk_repo_close(r);
    if (dom)
      virDomainFree(dom);
    return -1;
  }
  /* A second copy's checkpoints are its source repository's (copy.h):
   * none is deleted here, nor recorded as retired.
   */
  bool second = vk_repo_manifest(r)->second_copy;
  if (second && dom) {
    vk_flow_message(req->cb, VK_MSG_DEBUG, "%s holds copies of another repository's "
                    "backups: their checkpoints are that one's", vk_repo_where(r));
    virDomainFree(dom);
    dom = NULL;
  }
  struct plan p = { 0 };
  int rc = plan_make(&p, r, &req->policy);
  int follow_rc = 0;
  if (rc == 0) {
    warn_times(&p, req->cb);
    plan_bases(&p);
    plan_result(&p, out);
    CLEANUP_STRV char **needed = vk_follow_needed(&p.next);
    CLEANUP_FREE bool *going = vk_xcalloc(p.n + 1, sizeof *going);
    for (size_t i = 0; i < p.n; i++)
      going[i] = !p.reasons[i];
    if (dom) {
      /* Checkpoints first: a backup whose checkpoint is gone still
       * restores, and an interrupted merge then leaves none behind.  One
       * that cannot be deleted does not stop the merge: it is recorded as
       * retired, for the next prune.
       */
      out->checkpoints = vk_xcalloc(1, sizeof *out->checkpoints);
      follow_rc = vk_follow_manifest(dom, p.m, going, needed, req->dry_run, req->cb,
                                     &out->checkpoints, &p.next);
      out->checkpoints_checked = true;
    } else if (!req->conn && !second) {
      /* Not looked at: every checkpoint of an expired backup stays recorded. */
      vk_follow_retire_unlooked(p.m, going, needed, &p.next);
    }
    if (vk_stop_signal) {
      /* Checkpoints deleted so far were not needed: every backup restores. */
      vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d before the merge: no backup "
               "was changed", (int)vk_stop_signal);
      rc = -1;
    } else if (!req->dry_run && out->expired > 0)
      rc = plan_run(&p, r, req->cb);
    else if (!req->dry_run && !vk_follow_same_retired(p.m, &p.next) &&
             vk_repo_set_retired(r, p.next.retired, p.next.nr_retired) < 0)
      rc = -1;
  }
  if (follow_rc < 0 && rc == 0) {
    vk_error(VK_EXIT_FAILURE, "checkpoints that no backup needs could not be deleted (see the "
             "warnings above)");
    rc = -1;
  }
  plan_clear(&p);
  vk_repo_close(r);
  if (dom)
    virDomainFree(dom);
  return rc;
}

void
vk_prune_apply_policy(struct vk_prune_request *req, bool rules_given, const struct vk_policy *pol)
{
  if (!req->repo_dir)
    req->repo_dir = pol->repo ? pol->repo : vk_default_repo(NULL);
  if (!rules_given)
    req->policy = pol->retention;
}

int
vk_prune(const struct vk_prune_request *req, struct vk_prune_result *out)
{
  memset(out, 0, sizeof *out);
  if (!vk_retention_any(&req->policy)) {
    vk_error(VK_EXIT_USAGE, "no retention rule given (--keep-last, --keep-daily, ...) and "
             "none in the policy file: nothing would expire");
    return -1;
  }
  /* From here a stop signal rolls the merge back, or comes too late. */
  vk_stop_catch_begin();
  int rc = prune_caught(req, out);
  vk_stop_catch_end();
  return rc;
}

void
vk_prune_result_clear(struct vk_prune_result *res)
{
  for (size_t i = 0; i < res->nr_points; i++) {
    free(res->points[i].id);
    free(res->points[i].chain);
    free(res->points[i].merged_into);
    free(res->points[i].new_parent);
  }
  free(res->points);
  for (size_t k = 0; k < res->nr_files; k++) {
    free(res->files[k].id);
    free(res->files[k].target);
    free(res->files[k].from);
    free(res->files[k].to);
    free(res->files[k].onto);
  }
  free(res->files);
  vk_strv_free(res->checkpoints);
  memset(res, 0, sizeof *res);
}
