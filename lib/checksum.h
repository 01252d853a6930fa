/* vckpt - checksums of backup files: SHA-256 (records written before
 * XXH3-128 was added) and XXH3-128 (every new record), alone or in parallel.
 *
 * The checksum detects corruption, not tampering (the manifest is not
 * signed): XXH3-128 does that as well as SHA-256 at ~20x the speed.
 */
#ifndef VCKPT_CHECKSUM_H
#define VCKPT_CHECKSUM_H

#include <stddef.h>

/* The algorithms a manifest record may name.  SHA-256 is 0 so that a
 * zeroed record is an old one.
 */
enum vk_sum_type { VK_SUM_SHA256, VK_SUM_XXH3_128 };
/* The algorithm of every new record. */
#define VK_SUM_DEFAULT VK_SUM_XXH3_128
/* Room for the hex digits of any algorithm, with the NUL. */
#define VK_SUM_HEX_MAX 65

/* "sha256" or "xxh3-128": the name in the manifest, JSON and messages. */
const char *vk_sum_name(enum vk_sum_type t);
/* The algorithm called NAME: 0, or -1 (not reported). */
int vk_sum_parse(const char *name, enum vk_sum_type *out);

/* The checksum T of a file as hex (read in 1 MiB chunks); only a regular
 * file is read, a symlink is not followed.  Stops with
 * VK_EXIT_INTERRUPTED when vk_stop_signal is set.
 */
int vk_sum_file(enum vk_sum_type t, const char *path, char hex[VK_SUM_HEX_MAX]);
/* The same for the rest of the open file FD (PATH names it in errors). */
int vk_sum_fd(enum vk_sum_type t, int fd, const char *path, char hex[VK_SUM_HEX_MAX]);
/* The same without reporting (safe in a thread): 0, or an errno (EINTR:
 * vk_stop_signal or *STOP was set).
 */
int vk_sum_fd_quiet(enum vk_sum_type t, int fd, char hex[VK_SUM_HEX_MAX], volatile int *stop);
/* The checksum T of LEN bytes at BUF (0, or -1 reported). */
int vk_sum_buf(enum vk_sum_type t, const void *buf, size_t len, char hex[VK_SUM_HEX_MAX]);

/* A running checksum, for data hashed while it is copied: vk_sum_begin
 * (never NULL), vk_sum_update for each piece in order, vk_sum_end (frees
 * it, writing the hex digits to HEX unless it is NULL).
 */
struct vk_sum;
struct vk_sum *vk_sum_begin(enum vk_sum_type t);
void vk_sum_update(struct vk_sum *s, const void *buf, size_t len);
void vk_sum_end(struct vk_sum *s, char hex[VK_SUM_HEX_MAX]);

/* One file for the parallel hasher: FD is read to its end with TYPE; ERR
 * and HEX are the result of vk_sum_fd_quiet.  Set TYPE to the algorithm
 * the record names.
 */
struct vk_hash_job {
  int fd;
  enum vk_sum_type type;
  int err;
  char hex[VK_SUM_HEX_MAX];
};
struct vk_hasher;

/* Hash JOBS[0..N) (taken in that order: put the largest first) in up to
 * 8 threads, one per CPU, which never take a stop signal (process.h: the
 * calling thread does).  The caller keeps JOBS until vk_hasher_free.
 */
int vk_hasher_start(struct vk_hash_job *jobs, size_t n, struct vk_hasher **out);
/* Wait until every job is done: 0.  -1 (not reported) when vk_stop_signal
 * is set first; WAKE_FD (vk_stop_fd(), or -1) ends the wait at once.
 */
int vk_hasher_wait(struct vk_hasher *h, int wake_fd);
/* Stop the threads (a job not finished gets EINTR), join and free them. */
void vk_hasher_free(struct vk_hasher *h);

#endif
