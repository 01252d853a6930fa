/* vckpt - the host-wide lock of a domain (one backup of a domain at a
 * time on this host): an flock(2) on $VCKPT_LOCK_DIR (else /run/vckpt)
 * /UUID.lock, which names its holder.
 */
#ifndef VCKPT_HOSTLOCK_H
#define VCKPT_HOSTLOCK_H

/* Take the lock of domain DOMNAME (UUID) for a backup into REPO_DIR: the
 * locked file descriptor, or -1 after reporting (busy: VK_EXIT_BUSY naming
 * the holder).
 */
/* vckpt's directory of run-time state on this host: $VCKPT_LOCK_DIR (for
 * tests), else /run/vckpt (host locks, quiesce markers).
 */
const char *vk_run_dir(void);
int vk_host_lock(const char *domname, const char *uuid, const char *repo_dir);
/* Release it (FD < 0: nothing). */
void vk_host_unlock(int fd);

#endif
