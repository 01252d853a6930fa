/* vckpt - checksums: SHA-256 of files, and the parallel hasher restore
 * uses while qemu-img convert runs.
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

#include "backup.h"
#include "checksum.h"
#include "util.h"

#define HASH_CHUNK (1024 * 1024)
#define HASH_THREADS_MAX 8

/* The hex digits of DIGEST. */
static void
to_hex(const unsigned char digest[32], char hex[65])
{
  for (int i = 0; i < 32; i++)
    snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

int
vk_sha256_fd(int fd, const char *path, char hex[65])
{
  gnutls_hash_hd_t h;
  int e = gnutls_hash_init(&h, GNUTLS_DIG_SHA256);
  if (e < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: SHA-256: %s", path, gnutls_strerror(e));
    return -1;
  }
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  CLEANUP_FREE char *buf = vk_xmalloc(HASH_CHUNK);
  for (;;) {
    if (vk_stop_signal) {
      vk_error(VK_EXIT_INTERRUPTED, "%s: interrupted by signal %d while computing its SHA-256",
               path, (int)vk_stop_signal);
      gnutls_hash_deinit(h, NULL);
      return -1;
    }
    ssize_t n = read(fd, buf, HASH_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      vk_error(VK_EXIT_FAILURE, "%s: read: %s", path, strerror(errno));
      gnutls_hash_deinit(h, NULL);
      return -1;
    }
    if (n == 0)
      break;
    if ((e = gnutls_hash(h, buf, n)) < 0) {
      vk_error(VK_EXIT_FAILURE, "%s: SHA-256: %s", path, gnutls_strerror(e));
      gnutls_hash_deinit(h, NULL);
      return -1;
    }
  }
  unsigned char digest[32];
  gnutls_hash_deinit(h, digest);
  to_hex(digest, hex);
  return 0;
}

int
vk_sha256_file(const char *path, char hex[65])
{
  CLEANUP_CLOSE int fd = vk_open_regular(AT_FDCWD, path, path, VK_READ_NOFOLLOW);
  if (fd < 0)
    return -1;
  return vk_sha256_fd(fd, path, hex);
}

int
vk_sha256_fd_quiet(int fd, char hex[65], volatile int *stop)
{
  gnutls_hash_hd_t h;
  if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
    return ENOMEM;
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  char *buf = malloc(HASH_CHUNK);
  int e = buf ? 0 : ENOMEM;
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
    else if (gnutls_hash(h, buf, n) < 0)
      e = ENOMEM;
  }
  free(buf);
  unsigned char digest[32];
  gnutls_hash_deinit(h, digest);
  if (e == 0)
    to_hex(digest, hex);
  return e;
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
    h->jobs[i].err = vk_sha256_fd_quiet(h->jobs[i].fd, h->jobs[i].hex, &h->stop);
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
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
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
