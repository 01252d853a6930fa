/* vckpt - copy: a domain's backups into another vckpt repository (copy.h). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checksum.h"
#include "copies.h"
#include "copy.h"
#include "fileio.h"
#include "journal.h"
#include "process.h"
#include "qcow2.h"
#include "repo.h"
#include "testhook.h"
#include "util.h"

#define CHUNK (1 << 20)
/* The largest XML file (a backup's domain or checkpoint XML) copied. */
#define XML_MAX (16 << 20)

/* What a file must be: its size (0: not recorded) and checksum. */
struct record {
  uint64_t size;
  const char *sum;
  enum vk_sum_type type;
};

/* How a file gets into DEST (copy.h). */
enum how { H_BYTES, H_RENAME, H_CONVERT, H_XML };

/* One file the copy writes into DEST. */
struct item {
  enum how how;
  char *from, *to;        /* relative: SRC's file (the top of the chain: H_CONVERT), DEST's */
  char *onto;             /* H_RENAME: DEST's backing file of TO */
  struct record want;     /* H_BYTES, H_RENAME: what FROM must be */
  size_t nb;              /* its backup in NEXT */
  size_t di;              /* its disk there, or SIZE_MAX */
  int state;              /* its state file there (0 NVRAM, 1 TPM), or -1 */
  size_t point;           /* the SRC point (result's index) */
  uint64_t size;          /* SRC's bytes it reads (progress) */
};

struct copy {
  const struct vk_copy_request *req;
  struct vk_repo *src, *dst;
  struct vk_manifest next;   /* DEST's manifest after the copy */
  size_t nr_old;             /* DEST's backups before it */
  size_t nr_items;
  struct item *items;
  char **chains;             /* chain directories the copy makes */
  uint64_t total, done;      /* bytes to read, read */
  struct timespec t0;
};

const char *
vk_copy_action_name(enum vk_copy_action a)
{
  static const char *const names[] = {
    [VK_COPY_PRESENT] = "present", [VK_COPY_SKIPPED] = "skipped", [VK_COPY_COPIED] = "copied",
    [VK_COPY_STACKED] = "stacked", [VK_COPY_PROMOTED] = "promoted",
  };
  return a <= VK_COPY_PROMOTED ? names[a] : "?";
}

static void
copy_clear(struct copy *c)
{
  for (size_t i = 0; i < c->nr_items; i++) {
    free(c->items[i].from);
    free(c->items[i].to);
    free(c->items[i].onto);
  }
  free(c->items);
  vk_strv_free(c->chains);
  vk_manifest_clear(&c->next);
}

/* The record of disk file D. */
static struct record
disk_record(const struct vk_backup_disk *d)
{
  return (struct record) { d->file_size, d->checksum, d->checksum_type };
}

/* The record of state file F. */
static struct record
state_record(const struct vk_state_file *f)
{
  return (struct record) { f->size, f->checksum, f->checksum_type };
}

/* Whether A and B record the same bytes. */
static bool
same_record(const struct record *a, const struct record *b)
{
  return a->sum && b->sum && a->type == b->type && strcmp(a->sum, b->sum) == 0 &&
         (!a->size || !b->size || a->size == b->size);
}

/* The base name of relative file REL (a file and its backing file are in
 * one chain directory).
 */
static const char *
base_name(const char *rel)
{
  const char *s = strrchr(rel, '/');
  return s ? s + 1 : rel;
}

/* Drop FD's pages from the page cache, so that what is read next comes
 * from the disk (the pages are clean once fsync'd).
 */
static void
drop_cache(int fd)
{
  (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

/* Report progress of the copy. */
static void
progress(struct copy *c, bool finished)
{
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  double secs = (now.tv_sec - c->t0.tv_sec) + (now.tv_nsec - c->t0.tv_nsec) / 1e9;
  vk_flow_progress(c->req->cb, c->done, c->total, secs, finished);
}

/* Run qemu-img ARGV; a stop signal ends it and makes it an interruption.
 * *STATUS (if not NULL) gets its exit status instead of a failure.
 */
static int
run_qemu_img(char *const argv[], const char *what, int *status)
{
  int st = 0;
  CLEANUP_FREE char *msg = NULL;
  if (vk_spawn(argv, -1, vk_stop_fd(), &st, &msg) < 0)
    return -1;
  if (vk_stop_signal) {
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d while qemu-img %s %s",
             (int)vk_stop_signal, argv[1], what);
    return -1;
  }
  if (status && (st == 0 || st == 1)) {
    *status = st;
    return 0;
  }
  if (st != 0) {
    CLEANUP_FREE char *shown = msg ? vk_printable_text(msg) : NULL;
    vk_error(VK_EXIT_FAILURE, "%s: qemu-img %s failed: %s", what, argv[1],
             shown && *shown ? shown : "no message");
    return -1;
  }
  return 0;
}

/* ---- reading, writing, reading back ---- */

/* Whether the N bytes at BUF are all zero. */
static bool
all_zero(const char *buf, size_t n)
{
  return n == 0 || (buf[0] == 0 && memcmp(buf, buf + 1, n - 1) == 0);
}

/* Copy SRC's file FROM into OUT (new and empty; TO names it), hashing what
 * is read: it must be WANT (else nothing of it goes further).  Zero
 * chunks become holes.  With TAIL, *TAIL gets the XXH3-128 of the bytes
 * from offset SKIP on.  *SIZE gets the bytes copied.
 */
static int
copy_stream(struct copy *c, const char *from, const struct record *want, int out,
            const char *to, uint64_t skip, char *tail, uint64_t *size)
{
  static bool hooked;
  CLEANUP_FREE char *where = vk_repo_file_where(c->src, from);
  struct stat st;
  CLEANUP_CLOSE int in = vk_repo_open_file(c->src, from, &st);
  if (in < 0) {
    vk_error(errno == ENOENT ? VK_EXIT_NOT_FOUND : VK_EXIT_FAILURE, "%s: %s; nothing is "
             "copied (see 'vckpt verify')", where, vk_open_error(errno, &st));
    return -1;
  }
  (void)posix_fadvise(in, 0, 0, POSIX_FADV_SEQUENTIAL);
  CLEANUP_FREE char *buf = vk_xmalloc(CHUNK);
  struct vk_sum *whole = vk_sum_begin(want->type);
  struct vk_sum *rest = tail ? vk_sum_begin(VK_SUM_DEFAULT) : NULL;
  uint64_t off = 0, kicked = 0;
  int rc = 0;
  for (;;) {
    if (vk_stop_signal) {
      vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d while copying %s",
               (int)vk_stop_signal, where);
      rc = -1;
      break;
    }
    ssize_t n = read(in, buf, CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      vk_error(VK_EXIT_FAILURE, "%s: read: %s", where, strerror(errno));
      rc = -1;
      break;
    }
    if (n == 0)
      break;
    vk_sum_update(whole, buf, n);
    if (rest && off + n > skip) {
      uint64_t from_off = off >= skip ? 0 : skip - off;
      vk_sum_update(rest, buf + from_off, n - from_off);
    }
    if (!all_zero(buf, n)) {
      for (ssize_t w = 0; w < n; ) {
        ssize_t k = pwrite(out, buf + w, n - w, off + w);
        if (k < 0 && errno == EINTR)
          continue;
        if (k < 0) {
          vk_error(VK_EXIT_FAILURE, "%s: write: %s", to, strerror(errno));
          rc = -1;
          break;
        }
        w += k;
      }
      if (rc < 0)
        break;
    }
    off += n;
    c->done += n;
    progress(c, false);
    /* The disk writes while we read on (fsync waits for the tail only). */
    if (off - kicked >= 64 * CHUNK) {
      (void)sync_file_range(out, kicked, off - kicked, SYNC_FILE_RANGE_WRITE);
      kicked = off;
    }
    if (!hooked) {
      hooked = true;
      vk_test_hook("copy-writing");   /* tests: a file half written */
    }
  }
  char hex[VK_SUM_HEX_MAX];
  vk_sum_end(whole, rc == 0 ? hex : NULL);
  vk_sum_end(rest, rc == 0 ? tail : NULL);
  if (rc < 0)
    return -1;
  if (ftruncate(out, off) < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: truncate: %s", to, strerror(errno));
    return -1;
  }
  if ((want->size && off != want->size) || !want->sum || strcmp(hex, want->sum) != 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s mismatch: %s (%llu bytes), the manifest records %s "
             "(%llu bytes): the file changed since it was written; it is not copied, nor "
             "anything else (see 'vckpt verify')", where, vk_sum_name(want->type), hex,
             (unsigned long long)off, want->sum ? want->sum : "none",
             (unsigned long long)want->size);
    return -1;
  }
  *size = off;
  return vk_sync_fd(out, to);
}

/* Read DEST's file REL back from the disk (its pages dropped first): its
 * checksum of TYPE in WHOLE, with TAIL the XXH3-128 of the bytes from
 * SKIP on, its size in *SIZE.
 */
static int
read_back(struct copy *c, const char *rel, enum vk_sum_type type, char *whole, uint64_t skip,
          char *tail, uint64_t *size)
{
  CLEANUP_FREE char *where = vk_repo_file_where(c->dst, rel);
  struct stat st;
  CLEANUP_CLOSE int fd = vk_repo_open_file(c->dst, rel, &st);
  if (fd < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", where, vk_open_error(errno, &st));
    return -1;
  }
  drop_cache(fd);
  CLEANUP_FREE char *buf = vk_xmalloc(CHUNK);
  struct vk_sum *a = vk_sum_begin(type);
  struct vk_sum *b = tail ? vk_sum_begin(VK_SUM_DEFAULT) : NULL;
  uint64_t off = 0;
  int rc = 0;
  for (;;) {
    if (vk_stop_signal) {
      vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d while reading %s back",
               (int)vk_stop_signal, where);
      rc = -1;
      break;
    }
    ssize_t n = read(fd, buf, CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      vk_error(VK_EXIT_FAILURE, "%s: read back: %s", where, strerror(errno));
      rc = -1;
      break;
    }
    if (n == 0)
      break;
    vk_sum_update(a, buf, n);
    if (b && off + n > skip) {
      uint64_t from_off = off >= skip ? 0 : skip - off;
      vk_sum_update(b, buf + from_off, n - from_off);
    }
    off += n;
  }
  vk_sum_end(a, rc == 0 ? whole : NULL);
  vk_sum_end(b, rc == 0 ? tail : NULL);
  drop_cache(fd);
  *size = off;
  return rc;
}

/* The cluster size of SRC's qcow2 file REL, as a power of two. */
static int
cluster_bits(struct copy *c, const char *rel, uint32_t *bits, bool *zstd)
{
  CLEANUP_FREE char *where = vk_repo_file_where(c->src, rel);
  struct stat st;
  CLEANUP_CLOSE int fd = vk_repo_open_file(c->src, rel, &st);
  if (fd < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", where, vk_open_error(errno, &st));
    return -1;
  }
  struct vk_source s = { .opaque = &fd, .size = st.st_size, .pread = vk_fd_pread };
  struct vk_image img;
  CLEANUP_FREE char *err = NULL;
  if (vk_image_parse(&s, where, "qcow2", &img, &err) < 0) {
    vk_error(VK_EXIT_FAILURE, "%s; nothing is copied (see 'vckpt verify')",
             err ? err : "out of memory");
    return -1;
  }
  *bits = img.cluster_bits;
  if (zstd)
    *zstd = img.compression_type == 1;
  vk_image_clear(&img);
  return 0;
}

/* Check DEST's new qcow2 file REL: its header names BACKING (NULL: none)
 * and virtual size SIZE.
 */
static int
check_header(struct copy *c, const char *rel, const char *backing, uint64_t size)
{
  CLEANUP_FREE char *where = vk_repo_file_where(c->dst, rel);
  struct stat st;
  CLEANUP_CLOSE int fd = vk_repo_open_file(c->dst, rel, &st);
  if (fd < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", where, vk_open_error(errno, &st));
    return -1;
  }
  struct vk_source s = { .opaque = &fd, .size = st.st_size, .pread = vk_fd_pread };
  struct vk_image img;
  CLEANUP_FREE char *err = NULL;
  if (vk_image_parse(&s, where, "qcow2", &img, &err) < 0) {
    vk_error(VK_EXIT_FAILURE, "%s", err ? err : "out of memory");
    return -1;
  }
  bool ok = (backing ? img.backing_file && strcmp(img.backing_file, backing) == 0
                     : !img.backing_file) && (!size || img.virtual_size == size);
  if (!ok)
    vk_error(VK_EXIT_FAILURE, "%s: written with backing file '%s' and size %llu, not '%s' "
             "and %llu", where, img.backing_file ? img.backing_file : "",
             (unsigned long long)img.virtual_size, backing ? backing : "",
             (unsigned long long)size);
  vk_image_clear(&img);
  return ok ? 0 : -1;
}

/* ---- the plan ---- */

/* Whether point SB of SRC can stack in DEST on P, DEST's point of the same
 * id as SB's parent: the same chain, the checkpoint the manifest links
 * (manifest.c's rules), and a file of P under each disk SB stacks.
 */
static bool
stackable(const struct vk_backup *sb, const struct vk_backup *p)
{
  if (strcmp(p->chain, sb->chain) != 0)
    return false;
  bool since_ok = strcmp(p->checkpoint, sb->since) == 0 ||
                  (sb->level == VK_LEVEL_DIFFERENTIAL && p->base.checkpoint &&
                   strcmp(p->base.checkpoint, sb->since) == 0);
  if (!since_ok || (sb->level == VK_LEVEL_DIFFERENTIAL && p->level != VK_LEVEL_FULL))
    return false;
  for (size_t d = 0; d < sb->nr_disks; d++)
    if (sb->disks[d].backing && !vk_backup_find_disk(p, sb->disks[d].target))
      return false;
  return true;
}

/* Whether the copy writes REL already. */
static bool
planned(const struct copy *c, const char *rel)
{
  for (size_t i = 0; i < c->nr_items; i++)
    if (strcmp(c->items[i].to, rel) == 0)
      return true;
  return false;
}

/* Whether REL is a free name in DEST: no backup of DEST lists it, the
 * copy does not write it yet, nothing is there.
 */
static bool
name_free(const struct copy *c, const char *rel)
{
  return !vk_manifest_has_file(vk_repo_manifest(c->dst), rel) && !planned(c, rel) &&
         vk_repo_file_absent(c->dst, rel);
}

/* A free name in DEST for a revision of disk file SD of SB. */
static char *
free_revision(const struct copy *c, const struct vk_backup *sb, const struct vk_backup_disk *sd)
{
  for (unsigned rev = vk_backup_disk_file_rev(sb, sd) + 1; rev <= VK_MAX_REV; rev++) {
    char *name = vk_backup_disk_file_at(sb->chain, sb->id, sd->target, rev);
    if (name_free(c, name))
      return name;
    free(name);
  }
  vk_error(VK_EXIT_FAILURE, "backup %s: disk %s: no free name in %s for a revision of %s",
           sb->id, sd->target, vk_repo_where(c->dst), sd->file);
  return NULL;
}

/* Add an item: TO (taken) written from FROM as HOW. */
static struct item *
add_item(struct copy *c, enum how how, const char *from, char *to, size_t nb, size_t point)
{
  c->items = vk_xrealloc(c->items, (c->nr_items + 1) * sizeof *c->items);
  struct item *it = &c->items[c->nr_items++];
  *it = (struct item) { .how = how, .from = vk_xstrdup(from), .to = to, .nb = nb,
                        .di = SIZE_MAX, .state = -1, .point = point };
  return it;
}

/* Refuse a name DEST has a file under that no backup of DEST lists. */
static int
check_free(const struct copy *c, const struct vk_backup *sb, const char *rel)
{
  if (name_free(c, rel))
    return 0;
  CLEANUP_FREE char *where = vk_repo_file_where(c->dst, rel);
  vk_error(VK_EXIT_FAILURE, "backup %s: %s is in the way of its copy, and no backup there "
           "lists it: inspect it and remove it (see 'vckpt verify')", sb->id, where);
  return -1;
}

/* Plan the copy of point I of SRC (result point PT) onto NEXT. */
static int
plan_point(struct copy *c, size_t i, struct vk_copy_point *pt)
{
  const struct vk_backup *sb = &vk_repo_manifest(c->src)->backups[i];
  size_t k = c->next.nr_backups;
  struct vk_backup *nb = &c->next.backups[k];
  vk_backup_copy(nb, sb);
  const struct vk_backup *p = NULL;
  bool promote = false;
  if (sb->level != VK_LEVEL_FULL) {
    p = vk_manifest_find_id(&c->next, k, sb->parent);
    promote = !p || !stackable(sb, p);
  }
  c->next.nr_backups++;
  pt->action = VK_COPY_COPIED;
  if (promote) {
    pt->action = VK_COPY_PROMOTED;
    pt->parent = vk_xstrdup(sb->parent);
    nb->level = VK_LEVEL_FULL;
    free(nb->parent);
    free(nb->since);
    nb->parent = nb->since = NULL;
    if (!nb->note)
      nb->note = vk_xasprintf("made a standalone full backup by copy: this repository "
                              "lacked %s, the backup it stacks on", sb->parent);
  }

  /* Its chain directory: one the copy makes, or one there already that
   * must be DEST's own.
   */
  if (!vk_strv_contains(c->chains, sb->chain)) {
    if (vk_repo_file_absent(c->dst, sb->chain))
      vk_strv_push(&c->chains, vk_xstrdup(sb->chain));
    else if (vk_repo_copy_chain(c->dst, &(struct vk_journal) { .kind = VK_TXN_COPY },
                                sb->chain) < 0)
      return -1;
  }

  for (size_t d = 0; d < sb->nr_disks; d++) {
    const struct vk_backup_disk *sd = &sb->disks[d];
    struct vk_backup_disk *nd = &nb->disks[d];
    struct item *it;
    if (!sd->backing || !promote) {
      if (check_free(c, sb, sd->file) < 0)
        return -1;
      const struct vk_backup_disk *pd = sd->backing ? vk_backup_find_disk(p, sd->target) : NULL;
      bool rename = pd && strcmp(pd->file, sd->backing) != 0;
      it = add_item(c, rename ? H_RENAME : H_BYTES, sd->file, vk_xstrdup(sd->file), k, i);
      it->want = disk_record(sd);
      if (rename) {
        it->onto = vk_xstrdup(pd->file);
        free(nd->backing);
        nd->backing = vk_xstrdup(pd->file);
        if (pt->action == VK_COPY_COPIED)
          pt->action = VK_COPY_STACKED;
      }
    } else {
      char *to = free_revision(c, sb, sd);
      if (!to)
        return -1;
      it = add_item(c, H_CONVERT, sd->file, to, k, i);
      free(nd->file);
      free(nd->backing);
      nd->file = vk_xstrdup(to);
      nd->backing = NULL;
    }
    it->di = d;
    it->size = sd->file_size ? sd->file_size : sd->bytes;
    if (it->how != H_BYTES) {
      free(nd->checksum);
      nd->checksum = NULL;   /* written anew, sealed with the new algorithm */
      nd->file_size = 0;
    }
  }
  const struct vk_state_file *sf[] = { &sb->nvram, &sb->tpm };
  for (int s = 0; s < 2; s++) {
    if (!sf[s]->file)
      continue;
    if (check_free(c, sb, sf[s]->file) < 0)
      return -1;
    struct item *it = add_item(c, H_BYTES, sf[s]->file, vk_xstrdup(sf[s]->file), k, i);
    it->want = state_record(sf[s]);
    it->state = s;
    it->size = sf[s]->size;
  }
  const char *xml[] = { sb->domain_xml, sb->checkpoint_xml };
  for (int x = 0; x < 2; x++) {
    if (check_free(c, sb, xml[x]) < 0)
      return -1;
    add_item(c, H_XML, xml[x], vk_xstrdup(xml[x]), k, i);
  }
  if (promote) {
    /* Its own full: no differential base (differentials are SRC's). */
    free(nb->base.checkpoint);
    free(nb->base.identity);
    free(nb->base.record);
    memset(&nb->base, 0, sizeof nb->base);
  } else if (nb->base.record && !vk_manifest_has_file(vk_repo_manifest(c->dst), nb->base.record) &&
             !planned(c, nb->base.record)) {
    /* The saved XML of its differential base, another backup's file. */
    if (check_free(c, sb, nb->base.record) < 0)
      return -1;
    add_item(c, H_XML, nb->base.record, vk_xstrdup(nb->base.record), k, i);
  }
  return 0;
}

/* Decide what goes into DEST (copy.h): OUT's points and C's items. */
static int
plan(struct copy *c, struct vk_copy_result *out)
{
  const struct vk_manifest *sm = vk_repo_manifest(c->src), *dm = vk_repo_manifest(c->dst);
  out->nr_points = sm->nr_backups;
  out->points = vk_xcalloc(sm->nr_backups + 1, sizeof *out->points);
  size_t last_shared = SIZE_MAX;
  for (size_t i = 0; i < sm->nr_backups; i++) {
    const struct vk_backup *sb = &sm->backups[i];
    struct vk_copy_point *pt = &out->points[i];
    pt->id = vk_xstrdup(sb->id);
    pt->chain = vk_xstrdup(sb->chain);
    pt->level = sb->level;
    pt->start = sb->start;
    pt->action = VK_COPY_SKIPPED;
    if (vk_manifest_find_id(dm, dm->nr_backups, sb->id)) {
      pt->action = VK_COPY_PRESENT;
      last_shared = i;
    }
  }
  /* NEXT: DEST's manifest, then the points copied. */
  c->nr_old = dm->nr_backups;
  c->next.domain = vk_xstrdup(dm->domain);
  c->next.uuid = dm->uuid ? vk_xstrdup(dm->uuid) : NULL;
  c->next.second_copy = true;
  for (size_t i = 0; i < dm->nr_retired; i++)
    vk_manifest_add_retired(&c->next, dm->retired[i].checkpoint, dm->retired[i].identity);
  c->next.backups = vk_xcalloc(dm->nr_backups + sm->nr_backups + 1, sizeof *c->next.backups);
  for (size_t i = 0; i < dm->nr_backups; i++)
    vk_backup_copy(&c->next.backups[c->next.nr_backups++], &dm->backups[i]);
  long long newest = dm->nr_backups ? dm->backups[dm->nr_backups - 1].start : LLONG_MIN;
  for (size_t i = 0; i < sm->nr_backups; i++) {
    struct vk_copy_point *pt = &out->points[i];
    if (pt->action == VK_COPY_PRESENT)
      continue;
    /* Older than what DEST holds of SRC's, or than DEST's newest point
     * (the manifest's order is the order the points were made in).
     */
    if ((last_shared != SIZE_MAX && i < last_shared) || sm->backups[i].start < newest)
      continue;
    if (plan_point(c, i, pt) < 0)
      return -1;
  }
  return 0;
}

/* Check every file of SRC a conversion reads (the chain below ITEM's
 * file) against SRC's manifest, each file once (CHECKED).
 */
static int
check_chain(struct copy *c, const struct item *it, char ***checked)
{
  const struct vk_manifest *sm = vk_repo_manifest(c->src);
  const struct vk_backup *sb = NULL;
  const struct vk_backup_disk *sd = vk_repo_find_file(c->src, it->from, &sb);
  if (!sd)
    return -1;
  CLEANUP_FREE char *why = NULL;
  int rc = vk_repo_check_disk_chain(c->src, sb, sd->target, true, &why);
  if (rc != 0) {
    if (rc > 0)
      vk_error(VK_EXIT_FAILURE, "backup %s: %s: nothing is copied (see 'vckpt verify')",
               sb->id, why);
    return -1;
  }
  (void)sm;
  for (const char *f = it->from; f; ) {
    const struct vk_backup *owner = NULL;
    const struct vk_backup_disk *d = vk_repo_find_file(c->src, f, &owner);
    if (!d) {
      vk_error(VK_EXIT_FAILURE, "internal error: %s is not in SRC's manifest", f);
      return -1;
    }
    if (!vk_strv_contains(*checked, f)) {
      CLEANUP_FREE char *where = vk_repo_file_where(c->src, f);
      struct stat st;
      CLEANUP_CLOSE int fd = vk_repo_open_file(c->src, f, &st);
      if (fd < 0) {
        vk_error(VK_EXIT_FAILURE, "%s: %s; nothing is copied (see 'vckpt verify')", where,
                 vk_open_error(errno, &st));
        return -1;
      }
      char hex[VK_SUM_HEX_MAX];
      if (vk_sum_fd(d->checksum_type, fd, where, hex) < 0)
        return -1;
      if ((d->file_size && (uint64_t)st.st_size != d->file_size) || !d->checksum ||
          strcmp(hex, d->checksum) != 0) {
        vk_error(VK_EXIT_FAILURE, "%s: %s mismatch: %s, the manifest records %s: the file "
                 "changed since it was written; nothing is copied (see 'vckpt verify')",
                 where, vk_sum_name(d->checksum_type), hex, d->checksum ? d->checksum : "none");
        return -1;
      }
      vk_strv_push(checked, vk_xstrdup(f));
    }
    f = d->backing;
  }
  return 0;
}

/* Build the journal of the copy. */
static void
plan_journal(const struct copy *c, struct vk_journal *j)
{
  j->kind = VK_TXN_COPY;
  j->commit_listed = true;
  j->commit_id = vk_xstrdup(c->next.backups[c->next.nr_backups - 1].id);
  for (char **s = c->chains; s && *s; s++)
    vk_journal_add_step(j, VK_STEP_CREATE, VK_STEP_DIRECTORY, *s);
  for (size_t i = 0; i < c->nr_items; i++)
    vk_journal_add_step(j, VK_STEP_CREATE, VK_STEP_FILE, c->items[i].to);
}

/* ---- carrying it out ---- */

/* Write item IT into DEST, checked, and fill its record in NEXT. */
static int
do_item(struct copy *c, const struct item *it, uint64_t *written)
{
  struct vk_backup *nb = &c->next.backups[it->nb];
  struct vk_backup_disk *nd = it->di != SIZE_MAX ? &nb->disks[it->di] : NULL;
  CLEANUP_FREE char *to = vk_repo_target(c->dst, it->to);
  char hex[VK_SUM_HEX_MAX], tail[VK_SUM_HEX_MAX], back_tail[VK_SUM_HEX_MAX];
  uint64_t size = 0, back = 0;

  if (it->how == H_XML) {
    CLEANUP_FREE char *text = NULL, *again = NULL;
    if (vk_repo_read_file(c->src, it->from, XML_MAX, 0, &text) < 0 ||
        vk_repo_create_file(c->dst, it->to, text, strlen(text)) < 0 ||
        vk_repo_read_file(c->dst, it->to, XML_MAX, 0, &again) < 0)
      return -1;
    if (strcmp(text, again) != 0) {
      vk_error(VK_EXIT_FAILURE, "%s: reads back other than it was written", to);
      return -1;
    }
    *written = strlen(text);
    return 0;
  }

  if (it->how == H_CONVERT) {
    /* The point whole, from its SRC chain (checked before the journal). */
    uint32_t bits;
    bool zstd;
    if (cluster_bits(c, it->from, &bits, &zstd) < 0)
      return -1;
    {
      CLEANUP_CLOSE int fd = vk_repo_create_fd(c->dst, it->to);
      if (fd < 0)
        return -1;
    }
    CLEANUP_FREE char *from = vk_repo_target(c->src, it->from);
    CLEANUP_FREE char *opts = vk_xasprintf("cluster_size=%llu%s", 1ULL << bits,
                                           zstd ? ",compression_type=zstd" : "");
    char *conv[16] = { (char *)QEMU_IMG, "convert", "-q", "-f", "qcow2", "-O", "qcow2", "-o",
                       opts };
    size_t n = 9;
    if (zstd)
      conv[n++] = "-c";
    conv[n++] = from;
    conv[n++] = to;
    if (run_qemu_img(conv, to, NULL) < 0)
      return -1;
    vk_test_hook("copy-converted");
    if (vk_repo_seal_disk(c->dst, nd) < 0)
      return -1;
    /* Read back from the disk: the same guest bytes as SRC's chain. */
    {
      struct stat st;
      CLEANUP_CLOSE int fd = vk_repo_open_file(c->dst, it->to, &st);
      if (fd >= 0)
        drop_cache(fd);
    }
    char *cmp[] = { (char *)QEMU_IMG, "compare", "-q", "-f", "qcow2", "-F", "qcow2", from, to,
                    NULL };
    int status = 0;
    if (run_qemu_img(cmp, to, &status) < 0)
      return -1;
    if (status != 0) {
      vk_error(VK_EXIT_FAILURE, "%s: reads back other than backup %s in %s", to, nb->id,
               vk_repo_where(c->src));
      return -1;
    }
    c->done += it->size;
    (void)vk_repo_file_allocated(c->dst, it->to, &nd->bytes);
    *written = nd->file_size;
    return check_header(c, it->to, NULL, nd->virtual_size);
  }

  /* A copy byte for byte, checked against SRC's record as it is read;
   * for H_RENAME its header then names DEST's backing file, and the rest
   * must stay SRC's bytes.
   */
  uint32_t bits = 0;
  if (it->how == H_RENAME && cluster_bits(c, it->from, &bits, NULL) < 0)
    return -1;
  uint64_t skip = 1ULL << bits;
  {
    CLEANUP_CLOSE int out = vk_repo_create_fd(c->dst, it->to);
    if (out < 0 || copy_stream(c, it->from, &it->want, out, to, skip,
                               it->how == H_RENAME ? tail : NULL, &size) < 0)
      return -1;
    drop_cache(out);
  }
  if (it->how == H_RENAME) {
    char *hdr[] = { (char *)QEMU_IMG, "rebase", "-q", "-u", "-f", "qcow2", "-F", "qcow2", "-b",
                    (char *)base_name(it->onto), to, NULL };
    if (run_qemu_img(hdr, to, NULL) < 0)
      return -1;
    CLEANUP_CLOSE int fd = vk_repo_open_file(c->dst, it->to, &(struct stat) { 0 });
    if (fd < 0 || vk_sync_fd(fd, to) < 0)
      return -1;
    vk_test_hook("copy-rebased");
  }
  enum vk_sum_type type = it->how == H_RENAME ? VK_SUM_DEFAULT : it->want.type;
  if (read_back(c, it->to, type, hex, skip, it->how == H_RENAME ? back_tail : NULL, &back) < 0)
    return -1;
  bool ok = back == size && (it->how == H_RENAME ? strcmp(tail, back_tail) == 0
                                                 : strcmp(hex, it->want.sum) == 0);
  if (!ok) {
    vk_error(VK_EXIT_FAILURE, "%s: reads back other than it was written (%llu bytes, %s %s)",
             to, (unsigned long long)back, vk_sum_name(type), hex);
    return -1;
  }
  if (it->how == H_RENAME && check_header(c, it->to, base_name(it->onto), nd->virtual_size) < 0)
    return -1;
  if (nd) {
    if (it->how == H_RENAME) {
      free(nd->checksum);
      nd->checksum = vk_xstrdup(hex);
      nd->checksum_type = VK_SUM_DEFAULT;
    }
    nd->file_size = size;
    (void)vk_repo_file_allocated(c->dst, it->to, &nd->bytes);
  }
  *written = size;
  return 0;
}

/* Carry out the plan: one copy transaction. */
static int
run(struct copy *c, struct vk_copy_result *out)
{
  /* What a conversion reads is checked first: a mismatch stops before
   * the journal.
   */
  CLEANUP_STRV char **checked = NULL;
  for (size_t i = 0; i < c->nr_items; i++)
    if (c->items[i].how == H_CONVERT && check_chain(c, &c->items[i], &checked) < 0)
      return -1;
  for (size_t i = 0; i < c->nr_items; i++)
    c->total += c->items[i].size;

  struct vk_journal j = { .kind = VK_TXN_COPY };
  plan_journal(c, &j);
  if (vk_repo_copy_begin(c->dst, &j) < 0) {
    vk_journal_clear(&j);
    return -1;
  }
  vk_test_hook("copy-journal");
  int rc = 0;
  size_t nb = SIZE_MAX;
  for (size_t i = 0; i < c->nr_items && rc == 0; i++) {
    const struct item *it = &c->items[i];
    if (it->nb != nb) {
      if (nb != SIZE_MAX && nb == c->nr_old)
        vk_test_hook("copy-point");   /* tests: the first point's files are written */
      nb = it->nb;
      rc = vk_repo_copy_chain(c->dst, &j, c->next.backups[nb].chain);
      if (rc < 0)
        break;
    }
    vk_flow_message(c->req->cb, VK_MSG_DEBUG, "writing %s (%s)", it->to,
                    it->how == H_CONVERT ? "standalone, from its chain" :
                    it->how == H_RENAME ? "copied, on DEST's backing file" : "copied");
    uint64_t written = 0;
    rc = do_item(c, it, &written);
    if (rc == 0) {
      out->points[it->point].bytes += written;
      out->bytes += written;
    }
    if (rc == 0 && vk_stop_signal) {
      vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d before the copy was "
               "committed", (int)vk_stop_signal);
      rc = -1;
    }
  }
  progress(c, true);
  if (rc == 0) {
    rc = vk_repo_copy_commit(c->dst, &c->next, &j);
    if (rc == 0 && vk_stop_signal)
      vk_flow_message(c->req->cb, VK_MSG_WARNING, "signal %d came too late to stop the copy: "
                      "it was committed and is complete", (int)vk_stop_signal);
  }
  const struct vk_manifest *dm = vk_repo_manifest(c->dst);
  if (rc < 0 && !vk_manifest_find_id(dm, dm->nr_backups, j.commit_id)) {
    /* Not committed: DEST goes back to what it was. */
    if (vk_repo_copy_abort(c->dst, &j) == 0)
      vk_flow_message(c->req->cb, VK_MSG_WARNING, "copy to %s rolled back: it holds what "
                      "it held before", vk_repo_where(c->dst));
  }
  vk_journal_clear(&j);
  return rc;
}

/* ---- repairs ---- */

/* Whether DEST's file REL looks like WANT (present, its size; with HASH,
 * its checksum, read from the disk): 0, or 1 with *WHY (static text). */
static int
damaged(struct copy *c, const char *rel, const struct record *want, bool hash, const char **why)
{
  struct stat st;
  CLEANUP_CLOSE int fd = vk_repo_open_file(c->dst, rel, &st);
  if (fd < 0) {
    *why = errno == ENOENT ? "missing" : "cannot be opened";
    return 1;
  }
  if (want->size && (uint64_t)st.st_size != want->size) {
    *why = "not of the size the manifest records";
    return 1;
  }
  if (hash && want->sum) {
    CLEANUP_FREE char *where = vk_repo_file_where(c->dst, rel);
    char hex[VK_SUM_HEX_MAX];
    drop_cache(fd);
    int e = vk_sum_fd_quiet(want->type, fd, hex, NULL);
    drop_cache(fd);
    if (e == EINTR) {
      vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d while reading %s",
               (int)vk_stop_signal, where);
      return -1;
    }
    if (e || strcmp(hex, want->sum) != 0) {
      *why = e ? "unreadable" : "not what the manifest records (checksum mismatch)";
      return 1;
    }
  }
  return 0;
}

/* Put DEST's file TO back from SRC's FROM (WANT: both records; NULL for
 * an XML file, copied as it is).
 */
static int
repair_file(struct copy *c, const char *from, const char *to, const struct record *want,
            struct vk_copy_result *out)
{
  CLEANUP_FREE char *tmp = NULL;
  CLEANUP_FREE char *where = vk_repo_file_where(c->dst, to);
  int fd = vk_repo_replace_begin(c->dst, to, &tmp);
  if (fd < 0)
    return -1;
  bool ok;
  if (want) {
    uint64_t size = 0, back = 0;
    char hex[VK_SUM_HEX_MAX];
    ok = copy_stream(c, from, want, fd, where, 0, NULL, &size) == 0;
    drop_cache(fd);
    ok = ok && read_back(c, tmp, want->type, hex, 0, NULL, &back) == 0;
    if (ok && (back != size || strcmp(hex, want->sum) != 0)) {
      vk_error(VK_EXIT_FAILURE, "%s: its new copy reads back other than it was written",
               where);
      ok = false;
    }
  } else {
    CLEANUP_FREE char *text = NULL;
    ok = vk_repo_read_file(c->src, from, XML_MAX, 0, &text) == 0 &&
         vk_write_all(fd, text, strlen(text), where) == 0 && vk_sync_fd(fd, where) == 0;
  }
  close(fd);
  if (ok)
    vk_test_hook("copy-repaired");
  if (vk_repo_replace_end(c->dst, to, tmp, ok) < 0 || !ok)
    return -1;
  vk_strv_push(&out->repaired, vk_xstrdup(to));
  vk_flow_message(c->req->cb, VK_MSG_INFO, "%s was damaged: put back from %s", where,
                  vk_repo_where(c->src));
  return 0;
}

/* Look at DEST's file REL of backup ID (WANT: its record, or NULL for an
 * XML file) and put it back from SRC's FROM (GOOD: SRC's record, NULL:
 * SRC has no file with those bytes) when it is damaged.  *UNREPAIRED
 * counts the damaged files that stay so.
 */
static int
look_at(struct copy *c, const char *id, const char *rel, const struct record *want,
        const char *from, const struct record *good, struct vk_copy_result *out,
        size_t *unrepaired)
{
  const char *why = NULL;
  struct record none = { 0 };
  int d = damaged(c, rel, want ? want : &none, c->req->verify && want, &why);
  if (d <= 0)
    return d;
  CLEANUP_FREE char *where = vk_repo_file_where(c->dst, rel);
  if (!from || (want && (!good || !same_record(want, good)))) {
    vk_flow_message(c->req->cb, VK_MSG_WARNING, "backup %s: %s is %s, and %s holds no copy "
                    "of the same bytes to put back: see 'vckpt verify' of %s", id, where, why,
                    vk_repo_where(c->src), vk_repo_where(c->dst));
    (*unrepaired)++;
    return 0;
  }
  vk_flow_message(c->req->cb, VK_MSG_DEBUG, "%s is %s: putting it back", where, why);
  return repair_file(c, from, rel, want, out);
}

/* Look at the files of every point DEST holds; put back the damaged ones
 * SRC holds the same bytes of, and report the others.
 */
static int
repair(struct copy *c, struct vk_copy_result *out)
{
  const struct vk_manifest *dm = vk_repo_manifest(c->dst);
  size_t unrepaired = 0;
  for (size_t i = 0; i < dm->nr_backups; i++) {
    const struct vk_backup *db = &dm->backups[i];
    /* SRC's point of the same id, or an empty one (SRC merged it away). */
    const struct vk_backup *sb = vk_repo_find_by_id(c->src, db->id);
    static const struct vk_backup none;
    if (!sb)
      sb = &none;
    for (size_t d = 0; d < db->nr_disks; d++) {
      const struct vk_backup_disk *dd = &db->disks[d];
      const struct vk_backup_disk *sd = sb->nr_disks ? vk_backup_find_disk(sb, dd->target) : NULL;
      struct record want = disk_record(dd), good = sd ? disk_record(sd) : (struct record) { 0 };
      if (look_at(c, db->id, dd->file, &want, sd ? sd->file : NULL, sd ? &good : NULL, out,
                  &unrepaired) < 0)
        return -1;
    }
    const struct vk_state_file *df[] = { &db->nvram, &db->tpm }, *sf[] = { &sb->nvram, &sb->tpm };
    for (int s = 0; s < 2; s++) {
      if (!df[s]->file)
        continue;
      struct record want = state_record(df[s]), good = state_record(sf[s]);
      if (look_at(c, db->id, df[s]->file, &want, sf[s]->file, sf[s]->file ? &good : NULL, out,
                  &unrepaired) < 0)
        return -1;
    }
    const char *xml[] = { db->domain_xml, db->checkpoint_xml, db->base.record };
    for (int x = 0; x < 3; x++) {
      if (!xml[x])
        continue;
      bool src_has = vk_manifest_has_file(vk_repo_manifest(c->src), xml[x]);
      if (look_at(c, db->id, xml[x], NULL, src_has ? xml[x] : NULL, NULL, out,
                  &unrepaired) < 0)
        return -1;
    }
    if (vk_stop_signal) {
      vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d before the copy began",
               (int)vk_stop_signal);
      return -1;
    }
  }
  if (unrepaired)
    vk_error(VK_EXIT_FAILURE, "%zu damaged file%s in %s could not be put back from %s (see "
             "the warnings above)", unrepaired, unrepaired == 1 ? "" : "s",
             vk_repo_where(c->dst), vk_repo_where(c->src));
  return 0;
}

/* ---- copy ---- */

/* The repository directory of DEST's domain directory WHERE. */
static char *
repo_of(const char *where)
{
  const char *s = strrchr(where, '/');
  return s && s != where ? vk_xasprintf("%.*s", (int)(s - where), where) : vk_xstrdup("/");
}

/* Copy with the locks taken (vk_copy). */
static int
copy_locked(struct copy *c, struct vk_copy_result *out)
{
  const struct vk_copy_request *req = c->req;
  if (vk_repo_pending(c->dst)) {
    vk_error(VK_EXIT_FAILURE, "backup %s of domain '%s' into %s was interrupted: a backup "
             "there cleans it up; copy after it", vk_repo_pending(c->dst)->id, req->domain,
             vk_repo_where(c->dst));
    return -1;
  }
  const char *uuid = vk_repo_manifest(c->src)->uuid;
  if (uuid && vk_repo_check_uuid(c->dst, uuid) < 0)
    return -1;
  if (repair(c, out) < 0 || plan(c, out) < 0)
    return -1;
  int rc = 0;
  if (c->nr_items > 0)
    rc = run(c, out);
  for (size_t i = 0; i < out->nr_points; i++)
    if (out->points[i].action >= VK_COPY_COPIED)
      out->copied++;
  if (rc < 0)
    out->copied = 0;
  return rc < 0 || vk_error_reported() ? -1 : 0;
}

int
vk_copy(const struct vk_copy_request *req, struct vk_copy_result *out)
{
  memset(out, 0, sizeof *out);
  struct copy c = { .req = req };
  clock_gettime(CLOCK_MONOTONIC, &c.t0);
  /* From here a stop signal rolls the copy back, or comes too late. */
  vk_stop_catch_begin();
  int rc = vk_repo_open_shared(req->src_repo, req->domain, &c.src);
  if (rc == 0 && vk_repo_is_in(c.src, req->dest_repo)) {
    vk_error(VK_EXIT_USAGE, "--to %s is the repository copied from", req->dest_repo);
    rc = -1;
  }
  if (rc == 0 && vk_repo_manifest(c.src)->nr_backups == 0) {
    vk_error(VK_EXIT_NOT_FOUND, "no backups of domain '%s' in %s", req->domain,
             vk_repo_where(c.src));
    rc = -1;
  }
  if (rc == 0)
    rc = vk_repo_open(req->dest_repo, req->domain, true, true, &c.dst);
  if (c.dst)
    out->dest = vk_xstrdup(vk_repo_where(c.dst));
  if (rc == 0)
    rc = copy_locked(&c, out);
  if (c.dst) {
    const struct vk_manifest *dm = vk_repo_manifest(c.dst);
    if (dm->nr_backups)
      out->newest = vk_xstrdup(dm->backups[dm->nr_backups - 1].id);
  }
  if (c.src && vk_repo_manifest(c.src)->nr_backups) {
    const struct vk_manifest *sm = vk_repo_manifest(c.src);
    CLEANUP_FREE char *dest = c.dst ? repo_of(vk_repo_where(c.dst)) : NULL;
    const char *msg = vk_unit_message();
    vk_copies_add(c.src, dest ? dest : req->dest_repo,
           rc == 0 && out->newest ? out->newest : sm->backups[sm->nr_backups - 1].id, rc == 0,
           msg ? msg : "failed");
  }
  copy_clear(&c);
  vk_repo_close(c.dst);
  vk_repo_close(c.src);
  vk_stop_catch_end();
  return rc;
}

void
vk_copy_result_clear(struct vk_copy_result *res)
{
  for (size_t i = 0; i < res->nr_points; i++) {
    free(res->points[i].id);
    free(res->points[i].chain);
    free(res->points[i].parent);
  }
  free(res->points);
  vk_strv_free(res->repaired);
  free(res->dest);
  free(res->newest);
  memset(res, 0, sizeof *res);
}
