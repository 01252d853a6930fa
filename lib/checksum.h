/* vckpt - checksums: the SHA-256 of backup files, alone or in parallel. */
#ifndef VCKPT_CHECKSUM_H
#define VCKPT_CHECKSUM_H

#include <stddef.h>

/* The SHA-256 of a file as 64 hex digits (read in 1 MiB chunks); only a
 * regular file is read, a symlink is not followed.  Stops with
 * VK_EXIT_INTERRUPTED when vk_stop_signal is set.
 */
int vk_sha256_file(const char *path, char hex[65]);
/* The same for the rest of the open file FD (PATH names it in errors). */
int vk_sha256_fd(int fd, const char *path, char hex[65]);
/* The same without reporting (safe in a thread): 0, or an errno (EINTR:
 * vk_stop_signal or *STOP was set).
 */
int vk_sha256_fd_quiet(int fd, char hex[65], volatile int *stop);

/* One file for the parallel hasher: FD is read to its end; ERR and HEX
 * are the result of vk_sha256_fd_quiet.
 */
struct vk_hash_job {
  int fd;
  int err;
  char hex[65];
};
struct vk_hasher;

/* Hash JOBS[0..N) (taken in that order: put the largest first) in up to
 * 8 threads, one per CPU, which never take SIGINT or SIGTERM (the calling
 * thread does).  The caller keeps JOBS until vk_hasher_free.
 */
int vk_hasher_start(struct vk_hash_job *jobs, size_t n, struct vk_hasher **out);
/* Wait until every job is done: 0.  -1 (not reported) when vk_stop_signal
 * is set first; WAKE_FD (or -1), a pipe a signal handler writes to, ends
 * the wait at once.
 */
int vk_hasher_wait(struct vk_hasher *h, int wake_fd);
/* Stop the threads (a job not finished gets EINTR), join and free them. */
void vk_hasher_free(struct vk_hasher *h);

#endif
