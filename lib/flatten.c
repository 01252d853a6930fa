/* vckpt - a compressed qcow2 chain flattened into a new qcow2 image. */
#include <config.h>

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <zstd.h>

#include "cleanup.h"
#include "fileio.h"
#include "flatten.h"
#include "process.h"
#include "qcow2.h"
#include "testhook.h"
#include "util.h"

/* The one cluster size handled, in and out (QEMU's default). */
#define CLUSTER_BITS 16
#define CS (UINT64_C(1) << CLUSTER_BITS)
#define PER_L2 (CS / 8)                 /* entries of an L2 table */
#define CHUNK 16                        /* clusters a worker takes at once */
#define REFCOUNTS_PER_BLOCK (CS / 2)    /* 16-bit refcounts */
#define MAX_THREADS 8

#define L1E_OFFSET_MASK UINT64_C(0x00fffffffffffe00)
#define L2E_OFFSET_MASK UINT64_C(0x00fffffffffffe00)
#define OFLAG_COPIED (UINT64_C(1) << 63)
#define OFLAG_COMPRESSED (UINT64_C(1) << 62)
#define OFLAG_ZERO UINT64_C(1)
/* A compressed cluster's descriptor (qcow2.txt, "Compressed Clusters
 * Descriptor"): the host offset in bits 0..x-1, the number of 512-byte
 * sectors after the first in bits x..61, x = 62 - (cluster_bits - 8).
 */
#define CSIZE_SHIFT (62 - (CLUSTER_BITS - 8))
#define CSIZE_MASK ((UINT64_C(1) << (CLUSTER_BITS - 8)) - 1)
#define COFFSET_MASK ((UINT64_C(1) << CSIZE_SHIFT) - 1)
#define MAX_CSIZE ((CSIZE_MASK + 1) * 512)

enum kind { K_ZERO, K_DATA, K_COMPRESSED, K_UNRESOLVED };

struct link {
  int fd;
  const char *name;
  uint64_t file_size;
  bool zstd;                  /* compression type zstd (else zlib) */
  uint64_t l1_offset;
  uint64_t *l1;               /* its active L1 table, host order */
  uint64_t l1_used;           /* entries of it that cover the virtual size */
};

struct vk_flatten {
  size_t n;
  struct link *links;         /* [0] the top */
  uint64_t size;              /* the virtual size */
};

/* Where each guest cluster of one L2 range comes from. */
struct slot {
  uint64_t entry;             /* the L2 entry, host order */
  uint32_t link;
  uint8_t kind;
};

/* The state the workers share: the range being written and what goes
 * wrong first.
 */
struct run {
  const struct vk_flatten *fl;
  int outfd;
  const char *outname;        /* for messages */
  pthread_mutex_t mu;
  pthread_cond_t work, fin;
  /* The range under way (under mu): its slots and chunks. */
  const struct slot *slots;
  uint64_t count;             /* clusters in the range */
  uint64_t *l2out;            /* the new L2 table, big-endian, filled by chunk */
  uint32_t chunks[PER_L2 / CHUNK];
  size_t nchunks, next, busy;
  bool quit;
  /* The next free cluster of the new image (atomic). */
  uint64_t next_cluster;
  int status;                 /* 0, -1 error, 1 not handled (under mu) */
  char *err;                  /* the first error's message */
};

/* A worker's own buffers. */
struct worker {
  struct run *run;
  pthread_t thread;
  ZSTD_DCtx *dctx;
  uint8_t *buf;               /* CHUNK clusters, aligned for O_DIRECT */
  uint8_t *cbuf;              /* one compressed cluster */
};

static void
free_links(struct link *links, size_t n)
{
  for (size_t i = 0; links && i < n; i++)
    free(links[i].l1);
  free(links);
}

void
vk_flatten_free(struct vk_flatten *fl)
{
  if (!fl)
    return;
  free_links(fl->links, fl->n);
  free(fl);
}

/* Read up to LEN bytes at OFF; what lies past the end of the file reads
 * as zeros, as QEMU reads it.  0, or -1 with errno set.
 */
static int
read_zero_padded(int fd, void *buf, size_t len, uint64_t off)
{
  size_t done = 0;
  while (done < len) {
    ssize_t r = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return -1;
    if (r == 0)
      break;
    done += (size_t)r;
  }
  memset((uint8_t *)buf + done, 0, len - done);
  return 0;
}

/* vk_source.pread over a descriptor (vk_image_parse): exactly COUNT bytes. */
static int
link_pread(void *opaque, void *buf, size_t count, uint64_t offset)
{
  const struct link *l = opaque;
  int fd = l->fd;
  return vk_fd_pread(&fd, buf, count, offset);
}

/* Why link L (its header IMG) is not for vk_flatten, or NULL if it is. */
static const char *
unhandled(const struct vk_image *img, bool last, uint64_t top_size)
{
  if (img->format != VK_FMT_QCOW2)
    return "not qcow2";
  if (img->cluster_bits != CLUSTER_BITS)
    return "a cluster size other than 64 KiB";
  if (img->crypt_method != 0)
    return "encrypted";
  if (img->data_file || (img->incompatible_features & VK_QCOW2_INCOMPAT_DATA_FILE))
    return "an external data file";
  if (img->extended_l2)
    return "extended L2 entries";
  if (img->corrupt)
    return "marked corrupt";
  if (img->incompatible_features & ~VK_QCOW2_INCOMPAT_KNOWN)
    return "unknown incompatible features";
  if (img->compression_type > 1)
    return "an unknown compression type";
  if (img->virtual_size != top_size)
    return "a virtual size other than the top's";
  if (last != !img->backing_file)
    return last ? "a backing file past the chain's end" : "no backing file";
  if (img->backing_format && strcmp(img->backing_format, "qcow2") != 0)
    return "a backing file that is not qcow2";
  return NULL;
}

int
vk_flatten_open(const struct vk_flatten_link *in, size_t n, struct vk_flatten **out)
{
  *out = NULL;
  if (n == 0 || n > UINT32_MAX)
    return 0;
  struct link *links = vk_xcalloc(n, sizeof *links);
  uint64_t size = 0;
  bool any_zstd = false;
  for (size_t i = 0; i < n; i++) {
    struct link *l = &links[i];
    struct stat st;
    l->fd = in[i].fd;
    l->name = in[i].name;
    if (fstat(l->fd, &st) < 0) {
      vk_error(VK_EXIT_FAILURE, "%s: %s", l->name, strerror(errno));
      free_links(links, n);
      return -1;
    }
    l->file_size = (uint64_t)st.st_size;
    struct vk_source src = { .opaque = l, .size = l->file_size, .pread = link_pread };
    CLEANUP_IMAGE struct vk_image img = { 0 };
    CLEANUP_FREE char *err = NULL;
    if (vk_image_parse(&src, l->name, "qcow2", &img, &err) < 0) {
      /* qemu-img reports it in its own words. */
      vk_debug("%s: qemu-img converts the chain", err ? err : "out of memory");
      free_links(links, n);
      return 0;
    }
    if (i == 0)
      size = img.virtual_size;
    const char *why = size == 0 ? "an empty disk" : unhandled(&img, i + 1 == n, size);
    if (why) {
      vk_debug("%s: %s: qemu-img converts the chain", l->name, why);
      free_links(links, n);
      return 0;
    }
    l->zstd = img.compression_type == 1;
    any_zstd |= l->zstd;
    /* The L1 entries that cover the virtual size. */
    uint64_t span = PER_L2 * CS;
    l->l1_used = size / span + (size % span != 0);
    if (l->l1_used > img.l1_size)
      l->l1_used = img.l1_size;
    l->l1_offset = img.l1_table_offset;
  }
  if (!any_zstd) {
    vk_debug("%s: no zstd-compressed file in the chain: qemu-img converts it", in[0].name);
    free_links(links, n);
    return 0;
  }
  /* The L1 tables, which must lie in the files (vk_image_parse only
   * notes it).
   */
  for (size_t i = 0; i < n; i++) {
    struct link *l = &links[i];
    uint64_t bytes = l->l1_used * 8;
    if (l->l1_offset > l->file_size || bytes > l->file_size - l->l1_offset) {
      vk_debug("%s: the L1 table lies outside the file: qemu-img converts the chain",
               l->name);
      free_links(links, n);
      return 0;
    }
    l->l1 = vk_xmalloc(bytes ? bytes : 1);
    if (bytes && link_pread(l, l->l1, bytes, l->l1_offset) < 0) {
      vk_error(VK_EXIT_FAILURE, "%s: read: %s", l->name, strerror(errno));
      free_links(links, n);
      return -1;
    }
    for (uint64_t j = 0; j < l->l1_used; j++)
      l->l1[j] = be64toh(l->l1[j]) & L1E_OFFSET_MASK;
  }
  struct vk_flatten *fl = vk_xcalloc(1, sizeof *fl);
  *fl = (struct vk_flatten) { .n = n, .links = links, .size = size };
  *out = fl;
  return 1;
}

/* Record the first failure (status -1 with a message, or 1) and stop. */
static void
run_fail(struct run *run, int status, char *msg)
{
  pthread_mutex_lock(&run->mu);
  if (run->status == 0) {
    run->status = status;
    run->err = msg;
    msg = NULL;
  }
  run->quit = true;
  pthread_cond_broadcast(&run->work);
  pthread_mutex_unlock(&run->mu);
  free(msg);
}

/* Decompress the cluster of link L at L2 entry E into DST (CS bytes), as
 * QEMU's qcow2_zstd_decompress does: the frames in the descriptor's bytes
 * until exactly one cluster came out.  0, 1 (zlib: not handled), or -1
 * (*MSG set).
 */
static int
decompress(struct worker *w, const struct link *l, uint64_t e, uint8_t *dst, char **msg)
{
  if (!l->zstd) {
    *msg = vk_xasprintf("%s: a zlib-compressed cluster", l->name);
    return 1;
  }
  uint64_t coff = e & COFFSET_MASK;
  uint64_t nb = ((e >> CSIZE_SHIFT) & CSIZE_MASK) + 1;
  size_t csize = (size_t)(nb * 512 - (coff & 511));
  if (read_zero_padded(l->fd, w->cbuf, csize, coff) < 0) {
    *msg = vk_xasprintf("%s: read: %s", l->name, strerror(errno));
    return -1;
  }
  ZSTD_DCtx_reset(w->dctx, ZSTD_reset_session_only);
  ZSTD_outBuffer ob = { .dst = dst, .size = CS, .pos = 0 };
  ZSTD_inBuffer ib = { .src = w->cbuf, .size = csize, .pos = 0 };
  size_t r = 0;
  while (ob.pos < ob.size) {
    size_t in0 = ib.pos, out0 = ob.pos;
    r = ZSTD_decompressStream(w->dctx, &ob, &ib);
    if (ZSTD_isError(r)) {
      *msg = vk_xasprintf("%s: the compressed cluster at 0x%" PRIx64 " does not decompress: %s",
                          l->name, coff, ZSTD_getErrorName(r));
      return -1;
    }
    if (ib.pos <= in0 && ob.pos <= out0)
      break;
  }
  if (ob.pos < ob.size || r > 0) {
    *msg = vk_xasprintf("%s: the compressed cluster at 0x%" PRIx64 " does not decompress "
                        "into one cluster", l->name, coff);
    return -1;
  }
  return 0;
}

/* Whether the cluster at P reads as zeros. */
static bool
all_zero(const uint8_t *p)
{
  const uint64_t *q = (const uint64_t *)p;
  for (size_t i = 0; i < CS / 8; i += 4)
    if (q[i] | q[i + 1] | q[i + 2] | q[i + 3])
      return false;
  return true;
}

/* Fill and write the chunk of CHUNK clusters starting at range index FIRST. */
static int
do_chunk(struct worker *w, uint64_t first)
{
  struct run *run = w->run;
  const struct vk_flatten *fl = run->fl;
  uint64_t end = first + CHUNK < run->count ? first + CHUNK : run->count;
  struct iovec iov[CHUNK];
  size_t idx[CHUNK];
  size_t nz = 0;
  for (uint64_t i = first; i < end; i++) {
    const struct slot *s = &run->slots[i];
    uint8_t *dst = w->buf + (i - first) * CS;
    const struct link *l = &fl->links[s->link];
    char *msg = NULL;
    run->l2out[i] = 0;
    if (s->kind == K_ZERO)
      continue;
    if (s->kind == K_COMPRESSED) {
      int r = decompress(w, l, s->entry, dst, &msg);
      if (r != 0) {
        run_fail(run, r, msg);
        return -1;
      }
    } else if (read_zero_padded(l->fd, dst, CS, s->entry & L2E_OFFSET_MASK) < 0) {
      run_fail(run, -1, vk_xasprintf("%s: read: %s", l->name, strerror(errno)));
      return -1;
    }
    if (all_zero(dst))
      continue;
    iov[nz] = (struct iovec) { .iov_base = dst, .iov_len = CS };
    idx[nz++] = i;
  }
  if (nz == 0)
    return 0;
  uint64_t base = __atomic_fetch_add(&run->next_cluster, nz, __ATOMIC_RELAXED);
  ssize_t r;
  do
    r = pwritev(run->outfd, iov, (int)nz, (off_t)(base * CS));
  while (r < 0 && errno == EINTR);
  if (r >= 0 && (size_t)r < nz * CS) {
    /* A short write: the rest a cluster at a time. */
    for (size_t j = (size_t)r / CS; j < nz && r >= 0; j++) {
      size_t skip = j == (size_t)r / CS ? (size_t)r % CS : 0;
      if (vk_pwrite_all(run->outfd, (uint8_t *)iov[j].iov_base + skip, CS - skip,
                    (base + j) * CS + skip) < 0)
        r = -1;
    }
  }
  if (r < 0) {
    run_fail(run, -1, vk_xasprintf("%s: write: %s", run->outname, strerror(errno)));
    return -1;
  }
  for (size_t j = 0; j < nz; j++)
    run->l2out[idx[j]] = htobe64(((base + j) * CS) | OFLAG_COPIED);
  return 0;
}

static void *
worker_main(void *arg)
{
  struct worker *w = arg;
  struct run *run = w->run;
  pthread_mutex_lock(&run->mu);
  for (;;) {
    while (!run->quit && run->next >= run->nchunks)
      pthread_cond_wait(&run->work, &run->mu);
    if (run->quit)
      break;
    uint64_t first = (uint64_t)run->chunks[run->next++] * CHUNK;
    run->busy++;
    pthread_mutex_unlock(&run->mu);
    do_chunk(w, first);
    pthread_mutex_lock(&run->mu);
    if (--run->busy == 0)
      pthread_cond_signal(&run->fin);
  }
  pthread_mutex_unlock(&run->mu);
  return NULL;
}

/* Where each cluster of range R comes from: the topmost link whose L2
 * entry says data, compressed data or zeros; zeros if none.  Whether the
 * range holds data in *ANY.  0, 1 when a table is one QEMU reads in its
 * own way (outside the file: zeros; a data cluster not aligned: an
 * error) and qemu-img should have the chain (logged), or -1 (reported).
 */
static int
resolve_range(const struct vk_flatten *fl, uint64_t r, uint64_t count, struct slot *slots,
              uint64_t *table, bool *any)
{
  uint64_t left = count;
  *any = false;
  for (uint64_t j = 0; j < count; j++)
    slots[j].kind = K_UNRESOLVED;
  for (size_t k = 0; k < fl->n && left > 0; k++) {
    const struct link *l = &fl->links[k];
    if (r >= l->l1_used || l->l1[r] == 0)
      continue;
    uint64_t off = l->l1[r];
    if (off % CS != 0 || off > l->file_size || CS > l->file_size - off) {
      vk_debug("%s: the L2 table at 0x%" PRIx64 " is %s: qemu-img converts the chain",
               l->name, off, off % CS ? "not aligned to a cluster" : "outside the file");
      return 1;
    }
    if (link_pread((void *)l, table, CS, off) < 0) {
      vk_error(VK_EXIT_FAILURE, "%s: read: %s", l->name, strerror(errno));
      return -1;
    }
    for (uint64_t j = 0; j < count; j++) {
      if (slots[j].kind != K_UNRESOLVED)
        continue;
      uint64_t e = be64toh(table[j]);
      if (e & OFLAG_COMPRESSED)
        slots[j].kind = K_COMPRESSED;
      else if (e & OFLAG_ZERO)
        slots[j].kind = K_ZERO;
      else if (e & L2E_OFFSET_MASK) {
        if ((e & L2E_OFFSET_MASK) % CS != 0) {
          vk_debug("%s: a data cluster at 0x%" PRIx64 " is not aligned: qemu-img converts "
                   "the chain", l->name, e & L2E_OFFSET_MASK);
          return 1;
        }
        slots[j].kind = K_DATA;
      } else
        continue;               /* unallocated: the next link's */
      slots[j].entry = e;
      slots[j].link = (uint32_t)k;
      *any |= slots[j].kind != K_ZERO;
      left--;
    }
  }
  for (uint64_t j = 0; j < count; j++)
    if (slots[j].kind == K_UNRESOLVED)
      slots[j].kind = K_ZERO;
  return 0;
}

/* Wait until the workers finished the range or the run stopped (a stop
 * signal stops it): whether it stopped.
 */
static bool
wait_range(struct run *run)
{
  pthread_mutex_lock(&run->mu);
  while (!run->quit && (run->next < run->nchunks || run->busy > 0)) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&run->fin, &run->mu, &ts);
    if (vk_stop_signal && !run->quit) {
      run->quit = true;
      pthread_cond_broadcast(&run->work);
    }
  }
  /* Whatever is under way ends before the buffers go. */
  while (run->busy > 0)
    pthread_cond_wait(&run->fin, &run->mu);
  bool quit = run->quit;
  pthread_mutex_unlock(&run->mu);
  return quit;
}

/* An aligned buffer of LEN bytes (O_DIRECT), zeroed. */
static void *
aligned_zalloc(size_t len)
{
  void *p = NULL;
  if (posix_memalign(&p, 4096, len) != 0) {
    fprintf(stderr, "vckpt: out of memory\n");
    abort();
  }
  memset(p, 0, len);
  return p;
}

static void
put_be32(uint8_t *p, uint32_t v)
{
  v = htobe32(v);
  memcpy(p, &v, 4);
}

static void
put_be64(uint8_t *p, uint64_t v)
{
  v = htobe64(v);
  memcpy(p, &v, 8);
}

/* After the data and L2 tables (clusters 0..DATA_END-1, the header's
 * included): the L1 table L1 of L1_SIZE entries, the refcount table and
 * blocks (every cluster of the image used once), then the header.
 */
static int
write_metadata(int fd, uint64_t size, const uint64_t *l1, uint64_t l1_size, uint64_t data_end)
{
  uint64_t l1c = (l1_size * 8 + CS - 1) / CS;
  uint64_t rbc = 1, rtc = 1, total;
  for (;;) {
    total = data_end + l1c + rtc + rbc;
    uint64_t nrbc = (total + REFCOUNTS_PER_BLOCK - 1) / REFCOUNTS_PER_BLOCK;
    uint64_t nrtc = (nrbc * 8 + CS - 1) / CS;
    if (nrbc <= rbc && nrtc <= rtc)
      break;
    rbc = nrbc > rbc ? nrbc : rbc;
    rtc = nrtc > rtc ? nrtc : rtc;
  }
  total = data_end + l1c + rtc + rbc;
  uint64_t l1_at = data_end, rt_at = l1_at + l1c, rb_at = rt_at + rtc;
  /* The L1 table. */
  CLEANUP_FREE uint8_t *buf = aligned_zalloc(l1c * CS);
  for (uint64_t i = 0; i < l1_size; i++)
    put_be64(buf + i * 8, l1[i]);
  if (vk_pwrite_all(fd, buf, l1c * CS, l1_at * CS) < 0)
    return -1;
  /* The refcount table. */
  CLEANUP_FREE uint8_t *rt = aligned_zalloc(rtc * CS);
  for (uint64_t i = 0; i < rbc; i++)
    put_be64(rt + i * 8, (rb_at + i) * CS);
  if (vk_pwrite_all(fd, rt, rtc * CS, rt_at * CS) < 0)
    return -1;
  /* The refcount blocks: 1 for every cluster below TOTAL. */
  CLEANUP_FREE uint8_t *rb = aligned_zalloc(CS);
  for (uint64_t i = 0; i < rbc; i++) {
    for (uint64_t j = 0; j < REFCOUNTS_PER_BLOCK; j++) {
      uint16_t v = htobe16(i * REFCOUNTS_PER_BLOCK + j < total ? 1 : 0);
      memcpy(rb + j * 2, &v, 2);
    }
    if (vk_pwrite_all(fd, rb, CS, (rb_at + i) * CS) < 0)
      return -1;
  }
  /* The header (qcow2.txt: version 3, 112 bytes, no extension). */
  CLEANUP_FREE uint8_t *h = aligned_zalloc(CS);
  put_be32(h, 0x514649fb);                 /* "QFI\xfb" */
  put_be32(h + 4, 3);
  put_be32(h + 20, CLUSTER_BITS);
  put_be64(h + 24, size);
  put_be32(h + 36, (uint32_t)l1_size);
  put_be64(h + 40, l1_at * CS);
  put_be64(h + 48, rt_at * CS);
  put_be32(h + 56, (uint32_t)rtc);
  put_be32(h + 96, 4);                     /* refcount_order: 16 bits */
  put_be32(h + 100, 112);                  /* header_length */
  return vk_pwrite_all(fd, h, CS, 0);
}

int
vk_flatten_run(struct vk_flatten *fl, int outfd, const char *outname, unsigned threads)
{
  if (threads == 0) {
    /* One more than the processors: a worker waiting for its write
     * leaves one busy (3 against 2 on two cores: 1.06 s against 1.08 s,
     * medians of 5 of the bench's data; 4: 1.07 s).
     */
    long np = sysconf(_SC_NPROCESSORS_ONLN) + 1;
    threads = np < 2 ? 2 : np > MAX_THREADS ? MAX_THREADS : (unsigned)np;
  }
  uint64_t clusters = fl->size / CS + (fl->size % CS != 0);
  uint64_t l1_size = clusters / PER_L2 + (clusters % PER_L2 != 0);
  struct run run = { .fl = fl, .outfd = outfd, .outname = outname, .next_cluster = 1 };
  pthread_mutex_init(&run.mu, NULL);
  pthread_cond_init(&run.work, NULL);
  pthread_cond_init(&run.fin, NULL);
  CLEANUP_FREE uint64_t *l1 = vk_xcalloc(l1_size, sizeof *l1);
  CLEANUP_FREE struct slot *slots = vk_xcalloc(PER_L2, sizeof *slots);
  CLEANUP_FREE uint64_t *table = aligned_zalloc(CS);
  CLEANUP_FREE uint64_t *l2out = aligned_zalloc(CS);
  struct worker w[MAX_THREADS];
  unsigned started = 0;
  int ret = 0;
  /* The workers take no signal: the main thread's handlers see them all. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  for (; started < threads; started++) {
    w[started] = (struct worker) { .run = &run, .dctx = ZSTD_createDCtx(),
                                   .buf = aligned_zalloc(CHUNK * CS),
                                   .cbuf = vk_xmalloc(MAX_CSIZE) };
    if (!w[started].dctx || pthread_create(&w[started].thread, NULL, worker_main,
                                           &w[started]) != 0) {
      ZSTD_freeDCtx(w[started].dctx);
      free(w[started].buf);
      free(w[started].cbuf);
      break;
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (started == 0) {
    vk_error(VK_EXIT_FAILURE, "%s: no thread to decompress with", fl->links[0].name);
    ret = -1;
  }
  for (uint64_t r = 0; r < l1_size && ret == 0; r++) {
    if (vk_stop_signal)
      break;
    uint64_t count = clusters - r * PER_L2 < PER_L2 ? clusters - r * PER_L2 : PER_L2;
    bool any;
    ret = resolve_range(fl, r, count, slots, table, &any);
    if (ret != 0)
      break;
    if (!any)
      continue;
    memset(l2out, 0, CS);
    pthread_mutex_lock(&run.mu);
    run.slots = slots;
    run.count = count;
    run.l2out = l2out;
    run.nchunks = 0;
    run.next = 0;
    for (uint64_t c = 0; c * CHUNK < count; c++) {
      bool data = false;
      for (uint64_t j = c * CHUNK; j < count && j < (c + 1) * CHUNK && !data; j++)
        data = slots[j].kind != K_ZERO;
      if (data)
        run.chunks[run.nchunks++] = (uint32_t)c;
    }
    pthread_cond_broadcast(&run.work);
    pthread_mutex_unlock(&run.mu);
    if (wait_range(&run))
      break;
    /* The range's L2 table, unless all of it read as zeros. */
    bool used = false;
    for (uint64_t j = 0; j < count && !used; j++)
      used = l2out[j] != 0;
    if (!used)
      continue;
    uint64_t at = __atomic_fetch_add(&run.next_cluster, 1, __ATOMIC_RELAXED);
    if (vk_pwrite_all(outfd, l2out, CS, at * CS) < 0) {
      vk_error(VK_EXIT_FAILURE, "%s: write: %s", outname, strerror(errno));
      ret = -1;
      break;
    }
    l1[r] = (at * CS) | OFLAG_COPIED;
    vk_test_hook("restore-flattened-range");   /* tests: after each range's L2 table */
  }
  pthread_mutex_lock(&run.mu);
  run.quit = true;
  pthread_cond_broadcast(&run.work);
  pthread_mutex_unlock(&run.mu);
  for (unsigned i = 0; i < started; i++) {
    pthread_join(w[i].thread, NULL);
    ZSTD_freeDCtx(w[i].dctx);
    free(w[i].buf);
    free(w[i].cbuf);
  }
  if (ret == 0 && run.status == 1) {
    vk_debug("%s: qemu-img converts the chain", run.err);
    ret = 1;
  } else if (ret == 0 && run.status < 0) {
    vk_error(VK_EXIT_FAILURE, "%s", run.err);
    ret = -1;
  } else if (ret == 0 && vk_stop_signal) {
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: nothing was restored",
             (int)vk_stop_signal);
    ret = -1;
  }
  if (ret == 0 && write_metadata(outfd, fl->size, l1, l1_size, run.next_cluster) < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: write: %s", outname, strerror(errno));
    ret = -1;
  }
  free(run.err);
  pthread_cond_destroy(&run.fin);
  pthread_cond_destroy(&run.work);
  pthread_mutex_destroy(&run.mu);
  return ret;
}
