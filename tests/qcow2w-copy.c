/* Test helper: copy parts of a raw file into a fresh qcow2 image with
 * vckpt's writer (lib/qcow2w.c), the way the pull job does, for
 * tests/test-qcow2w-vs-qemu-img.sh.
 *
 *   qcow2w-copy [-b] [-j THREADS] [-w WINDOW] RAW QCOW2 [RANGE...]
 *
 * QCOW2 is a new image of qemu-img create; -b: it has a backing file.
 * RANGE is OFF:LEN (data, read from RAW) or z:OFF:LEN (zeros), in bytes,
 * cluster-aligned; without any, all of RAW is data.  THREADS (default 4)
 * take windows of WINDOW bytes (default 64 KiB) in turn: each writes the
 * parts of the ranges in its window, a cluster run at a time, then marks
 * the window done.  Exit status 0, or 1 with a message.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qcow2w.h"

struct range {
  uint64_t off, len;
  bool zero;
};

static struct vk_qcow2w *w;
static int raw;
static struct range *ranges;
static size_t nranges;
static uint64_t window = 64 << 10, next, size;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int failed;

static void
die(const char *what)
{
  fprintf(stderr, "qcow2w-copy: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* Write [A, B) of range R. */
static int
put(const struct range *r, uint64_t a, uint64_t b, char *buf)
{
  if (r->zero)
    return vk_qcow2w_zero(w, a, b - a);
  /* In runs of up to 8 clusters, as the pull job's requests. */
  uint64_t step = 8 * (uint64_t)vk_qcow2w_cluster_size(w);
  for (uint64_t pos = a; pos < b; pos += step) {
    uint64_t n = b - pos < step ? b - pos : step;
    if (pread(raw, buf, n, (off_t)pos) != (ssize_t)n)
      return -1;
    if (vk_qcow2w_write(w, buf, pos, n) < 0)
      return -1;
  }
  return 0;
}

static void *
worker(void *unused)
{
  (void)unused;
  char *buf = malloc(8 * (size_t)vk_qcow2w_cluster_size(w));
  if (!buf)
    die("malloc");
  for (;;) {
    pthread_mutex_lock(&lock);
    uint64_t off = next;
    next += window;
    pthread_mutex_unlock(&lock);
    if (off >= size)
      break;
    uint64_t end = off + window < size ? off + window : size;
    for (size_t i = 0; i < nranges; i++) {
      uint64_t a = ranges[i].off > off ? ranges[i].off : off;
      uint64_t b = ranges[i].off + ranges[i].len < end ? ranges[i].off + ranges[i].len : end;
      if (a < b && put(&ranges[i], a, b, buf) < 0) {
        fprintf(stderr, "qcow2w-copy: writing [%" PRIu64 ", %" PRIu64 "): %s\n", a, b,
                strerror(errno));
        __atomic_store_n(&failed, 1, __ATOMIC_SEQ_CST);
      }
    }
    if (vk_qcow2w_done(w, off, end) < 0) {
      fprintf(stderr, "qcow2w-copy: done: %s\n", strerror(errno));
      __atomic_store_n(&failed, 1, __ATOMIC_SEQ_CST);
    }
  }
  free(buf);
  return NULL;
}

int
main(int argc, char **argv)
{
  bool backing = false;
  int threads = 4, opt;
  while ((opt = getopt(argc, argv, "bj:w:")) != -1) {
    switch (opt) {
    case 'b': backing = true; break;
    case 'j': threads = atoi(optarg); break;
    case 'w': window = strtoull(optarg, NULL, 0); break;
    default: return 2;
    }
  }
  if (argc - optind < 2 || threads < 1 || threads > 64 || window == 0) {
    fprintf(stderr, "usage: qcow2w-copy [-b] [-j THREADS] [-w WINDOW] RAW QCOW2 [RANGE...]\n");
    return 2;
  }
  raw = open(argv[optind], O_RDONLY);
  if (raw < 0)
    die(argv[optind]);
  char *err = NULL;
  if (vk_qcow2w_open(argv[optind + 1], backing, &w, &err) < 0) {
    fprintf(stderr, "qcow2w-copy: %s\n", err);
    return 1;
  }
  size = vk_qcow2w_size(w);
  nranges = (size_t)(argc - optind - 2);
  ranges = calloc(nranges ? nranges : 1, sizeof *ranges);
  if (!ranges)
    die("calloc");
  if (nranges == 0) {
    ranges[0] = (struct range) { 0, size, false };
    nranges = 1;
  }
  for (int i = optind + 2; i < argc; i++) {
    struct range *r = &ranges[i - optind - 2];
    const char *s = argv[i];
    if (strncmp(s, "z:", 2) == 0) {
      r->zero = true;
      s += 2;
    }
    if (sscanf(s, "%" SCNu64 ":%" SCNu64, &r->off, &r->len) != 2) {
      fprintf(stderr, "qcow2w-copy: bad range '%s'\n", argv[i]);
      return 2;
    }
  }
  pthread_t tid[64];
  for (int t = 0; t < threads; t++)
    if (pthread_create(&tid[t], NULL, worker, NULL) != 0)
      die("pthread_create");
  for (int t = 0; t < threads; t++)
    pthread_join(tid[t], NULL);
  if (failed)
    return 1;
  if (vk_qcow2w_finish(w, &err) < 0) {
    fprintf(stderr, "qcow2w-copy: %s\n", err);
    return 1;
  }
  vk_qcow2w_close(w);
  free(ranges);
  close(raw);
  return 0;
}
