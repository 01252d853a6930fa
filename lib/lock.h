/* vckpt - the repository lock: flock(2) on a lock file, exclusive for a
 * writer (backup), shared for readers (verify).  The writer records its
 * holder (pid, host, start time, program) in the file and empties it on a
 * clean release, so a name left in it is a killed run, taken over with a
 * warning; a busy lock is VK_EXIT_BUSY naming the holder.
 */
#ifndef VCKPT_LOCK_H
#define VCKPT_LOCK_H

/* Take the lock file NAME in directory DIRFD (PATH names it in messages,
 * DOMAIN in the busy message) exclusively, creating it (0600) if needed.
 * Readers holding it shared are waited for (up to an hour); a writer
 * holding it makes this VK_EXIT_BUSY.  Returns the lock descriptor, or -1.
 */
int vk_lock_exclusive(int dirfd, const char *name, const char *path, const char *domain);
/* Take it shared; *FD is the lock descriptor, or -1 when the repository
 * is read-only and has no lock file (no writer can run there either).
 * A writer holding it makes this VK_EXIT_BUSY.  0 or -1.
 */
int vk_lock_shared(int dirfd, const char *name, const char *path, const char *domain, int *fd);
/* Take it shared unless a writer holds it, for a reader that may read
 * the repository without it (status: a manifest is replaced atomically):
 * 0 with *FD the lock descriptor, or -1 when there is no lock file (no
 * writer ran there: none is created) or it may not be opened; 1 when a
 * writer holds it, *HOLDER (malloc'd) naming it; -1 on error (reported).
 */
int vk_lock_shared_try(int dirfd, const char *name, const char *path, int *fd, char **holder);
/* Release an exclusive lock FD: empty the file while still holding it
 * (a clean release), then close it.
 */
void vk_lock_release(int fd, const char *path);

#endif
