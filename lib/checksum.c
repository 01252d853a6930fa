/* vckpt - checksums: SHA-256 (GnuTLS) and XXH3-128 (libxxhash) of files,
 * and the parallel hasher restore uses while qemu-img convert runs.
 */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <xxhash.h>

#include "fileio.h"
#include "process.h"
#include "checksum.h"
#include "util.h"

#define HASH_CHUNK (1024 * 1024)
#define HASH_THREADS_MAX 8

const char *
vk_sum_name(enum vk_sum_type t)
{
  switch (t) {
  case VK_SUM_SHA256: return "sha256";
  case VK_SUM_XXH3_128: return "xxh3-128";
  }
  return "?";
}

int
vk_sum_parse(const char *name, enum vk_sum_type *out)
{
  for (enum vk_sum_type t = VK_SUM_SHA256; t <= VK_SUM_XXH3_128; t++)
    if (name && strcmp(name, vk_sum_name(t)) == 0) {
      *out = t;
      return 0;
    }
  return -1;
}

/* The hex digits of the LEN bytes of DIGEST. */
static void
to_hex(const unsigned char *digest, size_t len, char hex[VK_SUM_HEX_MAX])
{
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    hex[2 * i] = digits[digest[i] >> 4];
    hex[2 * i + 1] = digits[digest[i] & 15];
  }
  hex[2 * len] = '\0';
}

/* A running checksum of either algorithm. */
struct sum_ctx {
  enum vk_sum_type type;
  gnutls_hash_hd_t sha;
  XXH3_state_t *xxh;
};

/* Start C: 0, or an errno. */
static int
ctx_init(struct sum_ctx *c, enum vk_sum_type t)
{
  c->type = t;
  c->sha = NULL;
  c->xxh = NULL;
  if (t == VK_SUM_XXH3_128) {
    if (!(c->xxh = XXH3_createState()))
      return ENOMEM;
    if (XXH3_128bits_reset(c->xxh) != XXH_OK) {
      XXH3_freeState(c->xxh);
      return ENOMEM;
    }
    return 0;
  }
  return gnutls_hash_init(&c->sha, GNUTLS_DIG_SHA256) < 0 ? ENOMEM : 0;
}

/* Add N bytes: 0, or an errno. */
static int
ctx_update(struct sum_ctx *c, const void *buf, size_t n)
{
  if (c->type == VK_SUM_XXH3_128)
    return XXH3_128bits_update(c->xxh, buf, n) == XXH_OK ? 0 : EINVAL;
  return gnutls_hash(c->sha, buf, n) < 0 ? ENOMEM : 0;
}

/* End C, writing its hex digits to HEX unless it is NULL. */
static void
ctx_final(struct sum_ctx *c, char hex[VK_SUM_HEX_MAX])
{
  if (c->type == VK_SUM_XXH3_128) {
    XXH128_canonical_t can;
    XXH128_canonicalFromHash(&can, XXH3_128bits_digest(c->xxh));
    XXH3_freeState(c->xxh);
    if (hex)
      to_hex(can.digest, sizeof can.digest, hex);
  } else {
    unsigned char digest[32];
    gnutls_hash_deinit(c->sha, digest);
    if (hex)
      to_hex(digest, sizeof digest, hex);
  }
}

int
vk_sum_fd_quiet(enum vk_sum_type t, int fd, char hex[VK_SUM_HEX_MAX], volatile int *stop)
{
  struct sum_ctx c;
  int e = ctx_init(&c, t);
  if (e)
    return e;
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  char *buf = malloc(HASH_CHUNK);
  e = buf ? 0 : ENOMEM;
  while (e == 0) {
    if (vk_stop_signal || (stop && *stop)) {
      e = EINTR;
      break;
    }
    ssize_t n = read(fd, buf, HASH_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      e = errno;
    else if (n == 0)
      break;
    else
      e = ctx_update(&c, buf, n);
  }
  free(buf);
  ctx_final(&c, e == 0 ? hex : NULL);
  return e;
}

int
vk_sum_fd(enum vk_sum_type t, int fd, const char *path, char hex[VK_SUM_HEX_MAX])
{
  int e = vk_sum_fd_quiet(t, fd, hex, NULL);
  if (e == EINTR)
    vk_error(VK_EXIT_INTERRUPTED, "%s: interrupted by signal %d while computing its %s",
             path, (int)vk_stop_signal, vk_sum_name(t));
  else if (e)
    vk_error(VK_EXIT_FAILURE, "%s: read for its %s: %s", path, vk_sum_name(t), strerror(e));
  return e ? -1 : 0;
}

int
vk_sum_file(enum vk_sum_type t, const char *path, char hex[VK_SUM_HEX_MAX])
{
  CLEANUP_CLOSE int fd = vk_open_regular(AT_FDCWD, path, path, VK_READ_NOFOLLOW);
  if (fd < 0)
    return -1;
  return vk_sum_fd(t, fd, path, hex);
}

int
vk_sum_buf(enum vk_sum_type t, const void *buf, size_t len, char hex[VK_SUM_HEX_MAX])
{
  struct sum_ctx c;
  int e = ctx_init(&c, t);
  if (!e) {
    e = ctx_update(&c, buf, len);
    ctx_final(&c, e ? NULL : hex);
  }
  if (e)
    vk_error(VK_EXIT_FAILURE, "%s: %s", vk_sum_name(t), strerror(e));
  return e ? -1 : 0;
}

/* ---- a running checksum ---- */

struct vk_sum {
  struct sum_ctx c;
};

struct vk_sum *
vk_sum_begin(enum vk_sum_type t)
{
  struct vk_sum *s = vk_xcalloc(1, sizeof *s);
  if (ctx_init(&s->c, t) != 0) {
    fprintf(stderr, "%s: out of memory\n", vk_progname);
    abort();
  }
  return s;
}

void
vk_sum_update(struct vk_sum *s, const void *buf, size_t len)
{
  /* Neither library fails on a started state but for a bug. */
  if (ctx_update(&s->c, buf, len) != 0)
    abort();
}

void
vk_sum_end(struct vk_sum *s, char hex[VK_SUM_HEX_MAX])
{
  if (!s)
    return;
  ctx_final(&s->c, hex);
  free(s);
}

/* ---- the parallel hasher ---- */

/* The hashing threads' shared state. */
struct vk_hasher {
  struct vk_hash_job *jobs;
  size_t n, next;
  pthread_mutex_t lock;
  volatile int stop;
  int done_pipe[2];       /* each thread writes a byte when it ends */
  size_t nr_threads, ended;
  pthread_t threads[HASH_THREADS_MAX];
};

/* A hashing thread: take the next job until none is left. */
static void *
hash_worker(void *opaque)
{
  struct vk_hasher *h = opaque;
  for (;;) {
    pthread_mutex_lock(&h->lock);
    size_t i = h->next < h->n ? h->next++ : h->n;
    pthread_mutex_unlock(&h->lock);
    if (i == h->n)
      break;
    h->jobs[i].err = vk_sum_fd_quiet(h->jobs[i].type, h->jobs[i].fd, h->jobs[i].hex,
                                     &h->stop);
  }
  char c = 1;
  while (write(h->done_pipe[1], &c, 1) < 0 && errno == EINTR)
    ;
  return NULL;
}

/* Join the threads, after telling them to stop when STOP. */
static void
join_all(struct vk_hasher *h, bool stop)
{
  if (stop)
    h->stop = 1;
  for (size_t i = 0; i < h->nr_threads; i++)
    pthread_join(h->threads[i], NULL);
  h->nr_threads = 0;
}

int
vk_hasher_start(struct vk_hash_job *jobs, size_t n, struct vk_hasher **out)
{
  struct vk_hasher *h = vk_xcalloc(1, sizeof *h);
  *out = h;
  h->jobs = jobs;
  h->n = n;
  h->done_pipe[0] = h->done_pipe[1] = -1;
  pthread_mutex_init(&h->lock, NULL);
  if (pipe2(h->done_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
    vk_error(VK_EXIT_FAILURE, "pipe: %s", strerror(errno));
    return -1;
  }
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  size_t want = cpus < 1 ? 1 : (size_t)cpus;
  if (want > HASH_THREADS_MAX)
    want = HASH_THREADS_MAX;
  if (want > n)
    want = n;
  sigset_t block, old;
  sigemptyset(&block);
  vk_stop_sigset(&block);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  for (size_t i = 0; i < want; i++) {
    int e = pthread_create(&h->threads[i], NULL, hash_worker, h);
    if (e != 0) {
      pthread_sigmask(SIG_SETMASK, &old, NULL);
      join_all(h, true);
      vk_error(VK_EXIT_FAILURE, "cannot start a hashing thread: %s", strerror(e));
      return -1;
    }
    h->nr_threads++;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return 0;
}

int
vk_hasher_wait(struct vk_hasher *h, int wake_fd)
{
  while (h->ended < h->nr_threads) {
    if (vk_stop_signal)
      return -1;
    struct pollfd p[2] = { { .fd = h->done_pipe[0], .events = POLLIN },
                           { .fd = wake_fd, .events = POLLIN } };
    int n = poll(p, wake_fd >= 0 ? 2 : 1, -1);
    if (vk_stop_signal)
      return -1;
    if (n < 0 && errno != EINTR)
      break;
    char c;
    ssize_t r = read(h->done_pipe[0], &c, 1);
    if (r == 1)
      h->ended++;
    else if (r < 0 && errno != EINTR && errno != EAGAIN)
      break;
  }
  join_all(h, false);
  return 0;
}

void
vk_hasher_free(struct vk_hasher *h)
{
  if (!h)
    return;
  join_all(h, true);
  pthread_mutex_destroy(&h->lock);
  for (int i = 0; i < 2; i++)
    if (h->done_pipe[i] >= 0)
      close(h->done_pipe[i]);
  free(h);
}
