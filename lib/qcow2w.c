/* vckpt - a writer of fresh qcow2 files (qcow2w.h), after QEMU's
 * docs/interop/qcow2.txt.
 *
 * Layout: `qemu-img create` leaves the header, one refcount table, its
 * first refcount block and the L1 table, every cluster of them with
 * refcount 1 (checked on open).  Guest data goes into clusters taken from
 * the end of the file (an atomic counter, so threads never wait for each
 * other to write data); an L2 table is kept in memory until the part of the
 * disk it maps is done, then appended too.  At the end the L1 table is
 * written in place, and the refcounts: every cluster up to the end of the
 * file is in use exactly once, so each refcount is 1 (the blocks the table
 * lacks are appended, and counted themselves).  Data and table entries
 * carry the COPIED flag (refcount 1), as QEMU's own do; clusters of zeros
 * over a backing file are "reads as zeros" entries with no cluster.
 */
#include <config.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "qcow2w.h"
#include "util.h"

#define QCOW2_MAGIC 0x514649fbU
#define OFLAG_COPIED (UINT64_C(1) << 63)
#define OFLAG_ZERO UINT64_C(1)
#define MAX_HOST_OFFSET (UINT64_C(1) << 56)   /* entries hold bits 9-55 */

struct vk_qcow2w {
  int fd;
  char *file;
  uint32_t cbits, csize;
  uint64_t size;                /* the disk's */
  bool backing;
  uint64_t l1_off;
  uint32_t l1_size;
  uint64_t rt_off;
  uint32_t rt_clusters;
  uint64_t *l1;                 /* host order, written at the end */
  uint64_t **l2;                /* per L1 entry: a table in memory (big endian) */
  uint64_t *l2_done;            /* bytes of each table's part of the disk done */
  uint64_t first_free;          /* the end of what qemu-img create made */
  _Atomic uint64_t end;         /* the next free cluster of the file */
  pthread_mutex_t lock;         /* l2 (the pointers), l2_done, l1 */
};

static uint32_t
be32_at(const unsigned char *p)
{
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return be32toh(v);
}

static uint64_t
be64_at(const unsigned char *p)
{
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return be64toh(v);
}

/* N fresh clusters at the end of the file: their offset, or 0 (EFBIG). */
static uint64_t
take(struct vk_qcow2w *w, uint64_t n)
{
  uint64_t off = atomic_fetch_add(&w->end, n << w->cbits);
  if (off + (n << w->cbits) > MAX_HOST_OFFSET) {
    errno = EFBIG;
    return 0;
  }
  return off;
}

static uint64_t
table_span(const struct vk_qcow2w *w)
{
  return (uint64_t)1 << (2 * w->cbits - 3);   /* csize / 8 entries of csize */
}

static bool
all_zero(const unsigned char *p, size_t len)
{
  return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

/* The refcount table, read whole (*LEN bytes), or NULL with *ERR set. */
static unsigned char *
read_refcount_table(struct vk_qcow2w *w, size_t *len, char **err)
{
  *len = (size_t)w->rt_clusters << w->cbits;
  unsigned char *rt = vk_xmalloc(*len);
  if (vk_fd_pread(&w->fd, rt, *len, w->rt_off) == 0)
    return rt;
  *err = vk_xasprintf("%s: cannot read its refcount table: %s", w->file, strerror(errno));
  free(rt);
  return NULL;
}

/* Check what qemu-img create made: every refcount block the table names
 * counts exactly the clusters before FIRST_FREE, once each.
 */
static int
check_refcounts(struct vk_qcow2w *w, char **err)
{
  uint64_t entries = (uint64_t)w->rt_clusters << (w->cbits - 3);
  uint64_t per_block = (uint64_t)w->csize / 2;
  uint64_t used = w->first_free >> w->cbits;
  size_t rt_len;
  unsigned char *rt = read_refcount_table(w, &rt_len, err);
  if (!rt)
    return -1;
  unsigned char *blk = vk_xmalloc(w->csize);
  int r = -1;
  uint64_t counted = 0;
  for (uint64_t i = 0; i < entries; i++) {
    uint64_t b = be64_at(rt + i * 8);
    if (!b)
      continue;
    if (b & (w->csize - 1) || b >= w->first_free) {
      *err = vk_xasprintf("%s: refcount block %llu at %#llx is not where qemu-img puts it",
                          w->file, (unsigned long long)i, (unsigned long long)b);
      goto out;
    }
    if (vk_fd_pread(&w->fd, blk, w->csize, b) < 0) {
      *err = vk_xasprintf("%s: cannot read a refcount block: %s", w->file, strerror(errno));
      goto out;
    }
    for (uint64_t k = 0; k < per_block; k++) {
      uint64_t c = i * per_block + k;
      unsigned v = (unsigned)blk[2 * k] << 8 | blk[2 * k + 1];
      if (v != (c < used ? 1U : 0U)) {
        *err = vk_xasprintf("%s: cluster %llu has refcount %u: not the layout of a new "
                            "image", w->file, (unsigned long long)c, v);
        goto out;
      }
      counted += v;
    }
  }
  if (counted != used) {
    *err = vk_xasprintf("%s: %llu of its %llu clusters are counted: not the layout of a new "
                        "image", w->file, (unsigned long long)counted,
                        (unsigned long long)used);
    goto out;
  }
  r = 0;
out:
  free(rt);
  free(blk);
  return r;
}

int
vk_qcow2w_open(const char *file, bool backing, struct vk_qcow2w **out, char **err)
{
  *out = NULL;
  *err = NULL;
  struct vk_qcow2w *w = vk_xcalloc(1, sizeof *w);
  w->fd = open(file, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  w->file = vk_xstrdup(file);
  w->backing = backing;
  pthread_mutex_init(&w->lock, NULL);
  unsigned char h[104];
  struct stat st;
  if (w->fd < 0 || fstat(w->fd, &st) < 0) {
    *err = vk_xasprintf("%s: %s", file, strerror(errno));
    goto fail;
  }
  if (!S_ISREG(st.st_mode) || vk_fd_pread(&w->fd, h, sizeof h, 0) < 0) {
    *err = vk_xasprintf("%s: not a new qcow2 image", file);
    goto fail;
  }
  w->cbits = be32_at(h + 20);
  w->l1_size = be32_at(h + 36);
  w->l1_off = be64_at(h + 40);
  w->rt_off = be64_at(h + 48);
  w->rt_clusters = be32_at(h + 56);
  w->size = be64_at(h + 24);
  if (be32_at(h) != QCOW2_MAGIC || be32_at(h + 4) != 3 || be32_at(h + 32) != 0 ||
      be32_at(h + 60) != 0 || be64_at(h + 72) != 0 || be32_at(h + 96) != 4 ||
      w->cbits < 9 || w->cbits > 21) {
    *err = vk_xasprintf("%s: not the plain qcow2 (version 3, 16-bit refcounts, no features) "
                        "that qemu-img create makes", file);
    goto fail;
  }
  w->csize = 1U << w->cbits;
  w->first_free = ((uint64_t)st.st_size + w->csize - 1) & ~((uint64_t)w->csize - 1);
  uint64_t span = table_span(w);
  uint64_t need = (w->size + span - 1) / span;
  if (w->l1_size < need || w->l1_off & (w->csize - 1) || w->rt_off & (w->csize - 1) ||
      w->rt_clusters == 0 || w->rt_clusters > 64 ||
      w->l1_off + (uint64_t)w->l1_size * 8 > w->first_free ||
      w->rt_off + ((uint64_t)w->rt_clusters << w->cbits) > w->first_free) {
    *err = vk_xasprintf("%s: its tables are not where a new image has them", file);
    goto fail;
  }
  /* Nothing mapped yet (an image with data has clusters of its own, ones
   * the writer's tables and refcounts would drop).
   */
  unsigned char *l1 = vk_xmalloc((size_t)w->l1_size * 8);
  bool empty = vk_fd_pread(&w->fd, l1, (size_t)w->l1_size * 8, w->l1_off) == 0 &&
               all_zero(l1, (size_t)w->l1_size * 8);
  free(l1);
  if (!empty) {
    *err = vk_xasprintf("%s: not a new image: it maps data already", file);
    goto fail;
  }
  if (check_refcounts(w, err) < 0)
    goto fail;
  w->end = w->first_free;
  w->l1 = vk_xcalloc(w->l1_size, sizeof *w->l1);
  w->l2 = vk_xcalloc(w->l1_size, sizeof *w->l2);
  w->l2_done = vk_xcalloc(w->l1_size, sizeof *w->l2_done);
  *out = w;
  return 0;
fail:
  vk_qcow2w_close(w);
  return -1;
}

uint32_t
vk_qcow2w_cluster_size(const struct vk_qcow2w *w)
{
  return w->csize;
}

uint64_t
vk_qcow2w_size(const struct vk_qcow2w *w)
{
  return w->size;
}

/* The L2 entry of the cluster at guest offset OFF (its table made). */
static uint64_t *
entry(struct vk_qcow2w *w, uint64_t off)
{
  uint64_t i = off / table_span(w);
  pthread_mutex_lock(&w->lock);
  if (!w->l2[i])
    w->l2[i] = vk_xcalloc(1, w->csize);
  uint64_t *t = w->l2[i];
  pthread_mutex_unlock(&w->lock);
  return t + ((off >> w->cbits) & ((w->csize / 8) - 1));
}

static int
check_range(const struct vk_qcow2w *w, uint64_t off, uint64_t len)
{
  if (off & (w->csize - 1) || off > w->size || len > w->size - off ||
      ((off + len) & (w->csize - 1) && off + len != w->size)) {
    errno = EINVAL;
    return -1;
  }
  return 0;
}

int
vk_qcow2w_write(struct vk_qcow2w *w, const void *buf, uint64_t off, uint64_t len)
{
  if (check_range(w, off, len) < 0)
    return -1;
  const unsigned char *p = buf;
  uint64_t pos = 0;
  while (pos < len) {
    uint64_t n = len - pos < w->csize ? len - pos : w->csize;
    if (all_zero(p + pos, n)) {
      if (w->backing)
        *entry(w, off + pos) = htobe64(OFLAG_ZERO);
      pos += n;
      continue;
    }
    /* A run of clusters with data: one write. */
    uint64_t run = n;
    while (pos + run < len) {
      uint64_t m = len - pos - run < w->csize ? len - pos - run : w->csize;
      if (all_zero(p + pos + run, m))
        break;
      run += m;
    }
    uint64_t clusters = (run + w->csize - 1) >> w->cbits;
    uint64_t host = take(w, clusters);
    if (!host || vk_pwrite_all(w->fd, p + pos, run, host) < 0)
      return -1;
    /* Start writing it back at once, only it: the disk works while the
     * copy goes on (the seal's fsync has little left to wait for), and a
     * worker never waits for another's pages.  Measured: a writeback of
     * the whole file as each window ends slowed the copy by half.
     */
    sync_file_range(w->fd, host, run, SYNC_FILE_RANGE_WRITE);
    for (uint64_t c = 0; c < clusters; c++)
      *entry(w, off + pos + (c << w->cbits)) = htobe64((host + (c << w->cbits)) | OFLAG_COPIED);
    pos += run;
  }
  return 0;
}

int
vk_qcow2w_zero(struct vk_qcow2w *w, uint64_t off, uint64_t len)
{
  if (check_range(w, off, len) < 0)
    return -1;
  if (!w->backing)
    return 0;
  for (uint64_t pos = 0; pos < len; pos += w->csize)
    *entry(w, off + pos) = htobe64(OFLAG_ZERO);
  return 0;
}

/* Append table I, if it maps anything, and free it (lock held). */
static int
put_table(struct vk_qcow2w *w, uint64_t i)
{
  uint64_t *t = w->l2[i];
  if (!t)
    return 0;
  w->l2[i] = NULL;
  int r = 0;
  if (!all_zero((const unsigned char *)t, w->csize)) {
    uint64_t host = take(w, 1);
    r = host && vk_pwrite_all(w->fd, t, w->csize, host) == 0 ? 0 : -1;
    w->l1[i] = host | OFLAG_COPIED;
  }
  free(t);
  return r;
}

int
vk_qcow2w_done(struct vk_qcow2w *w, uint64_t off, uint64_t end)
{
  uint64_t span = table_span(w);
  int r = 0;
  if (end > w->size)
    end = w->size;
  pthread_mutex_lock(&w->lock);
  for (uint64_t i = off / span; off < end && r == 0; i++) {
    uint64_t t0 = i * span, t1 = t0 + span > w->size ? w->size : t0 + span;
    uint64_t upto = end < t1 ? end : t1;
    w->l2_done[i] += upto - off;
    if (w->l2_done[i] >= t1 - t0)
      r = put_table(w, i);
    off = upto;
  }
  pthread_mutex_unlock(&w->lock);
  return r;
}

/* The refcounts: every cluster before the end is used once.  The table
 * qemu-img made is kept; blocks it lacks are appended (and counted).
 */
static int
write_refcounts(struct vk_qcow2w *w, char **err)
{
  uint64_t entries = (uint64_t)w->rt_clusters << (w->cbits - 3);
  uint64_t per_block = (uint64_t)w->csize / 2;
  size_t rt_len;
  unsigned char *rt = read_refcount_table(w, &rt_len, err);
  if (!rt)
    return -1;
  unsigned char *blk = vk_xmalloc(w->csize);
  int r = -1;
  uint64_t used = w->end >> w->cbits, blocks;
  for (;;) {
    blocks = (used + per_block - 1) / per_block;
    if (blocks > entries) {
      *err = vk_xasprintf("%s: more data than one refcount table of %u clusters counts",
                          w->file, w->rt_clusters);
      goto out;
    }
    uint64_t missing = 0;
    for (uint64_t i = 0; i < blocks; i++)
      missing += be64_at(rt + i * 8) == 0;
    if (missing == 0)
      break;
    /* Append them now (their own clusters are counted on the next turn). */
    for (uint64_t i = 0; i < blocks; i++) {
      if (be64_at(rt + i * 8))
        continue;
      uint64_t host = take(w, 1);
      if (!host) {
        *err = vk_xasprintf("%s: %s", w->file, strerror(errno));
        goto out;
      }
      uint64_t be = htobe64(host);
      memcpy(rt + i * 8, &be, 8);
    }
    used = w->end >> w->cbits;
  }
  for (uint64_t i = 0; i < blocks; i++) {
    memset(blk, 0, w->csize);
    for (uint64_t k = 0; k < per_block && i * per_block + k < used; k++)
      blk[2 * k + 1] = 1;
    if (vk_pwrite_all(w->fd, blk, w->csize, be64_at(rt + i * 8)) < 0) {
      *err = vk_xasprintf("%s: cannot write a refcount block: %s", w->file, strerror(errno));
      goto out;
    }
  }
  if (vk_pwrite_all(w->fd, rt, rt_len, w->rt_off) < 0) {
    *err = vk_xasprintf("%s: cannot write its refcount table: %s", w->file, strerror(errno));
    goto out;
  }
  r = 0;
out:
  free(rt);
  free(blk);
  return r;
}

int
vk_qcow2w_finish(struct vk_qcow2w *w, char **err)
{
  *err = NULL;
  int r = 0;
  pthread_mutex_lock(&w->lock);
  for (uint64_t i = 0; i < w->l1_size && r == 0; i++)
    r = put_table(w, i);
  pthread_mutex_unlock(&w->lock);
  if (r < 0) {
    *err = vk_xasprintf("%s: cannot write an L2 table: %s", w->file, strerror(errno));
    return -1;
  }
  uint64_t *l1 = vk_xmalloc((size_t)w->l1_size * 8);
  for (uint32_t i = 0; i < w->l1_size; i++)
    l1[i] = htobe64(w->l1[i]);
  r = vk_pwrite_all(w->fd, l1, (size_t)w->l1_size * 8, w->l1_off);
  free(l1);
  if (r < 0) {
    *err = vk_xasprintf("%s: cannot write its L1 table: %s", w->file, strerror(errno));
    return -1;
  }
  if (write_refcounts(w, err) < 0)
    return -1;
  /* The last data cluster may be short (the disk's end): the file covers
   * every cluster it counts.
   */
  struct stat st;
  if (fstat(w->fd, &st) < 0 ||
      ((uint64_t)st.st_size < w->end && ftruncate(w->fd, (off_t)w->end) < 0)) {
    *err = vk_xasprintf("%s: %s", w->file, strerror(errno));
    return -1;
  }
  return 0;
}

void
vk_qcow2w_close(struct vk_qcow2w *w)
{
  if (!w)
    return;
  if (w->fd >= 0)
    close(w->fd);
  if (w->l2)
    for (uint32_t i = 0; i < w->l1_size; i++)
      free(w->l2[i]);
  free(w->l2);
  free(w->l2_done);
  free(w->l1);
  free(w->file);
  pthread_mutex_destroy(&w->lock);
  free(w);
}
