/* vckpt - file utilities of the core: the one reader of regular files and
 * the one crash-safe writer.
 *
 * Every file vckpt reads is treated as hostile: it is opened with
 * O_NONBLOCK (a FIFO or device never blocks the open), refused unless it
 * is a regular file before the first read, and, where another user could
 * plant a symbolic link (the repository, restore's target), opened with
 * O_NOFOLLOW.  Every file vckpt writes into the repository goes through
 * vk_write_atomic: a temporary file, fsync, rename, fsync of the directory.
 */
#ifndef VCKPT_FILEIO_H
#define VCKPT_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* Flags of the readers below. */
#define VK_READ_NOFOLLOW   1u   /* refuse a symbolic link (a place another user can write) */
#define VK_READ_MISSING_OK 2u   /* a missing file is no error: 0 with *OUT NULL */
#define VK_READ_NONEMPTY   4u   /* an empty file is an error: "PATH is empty" */

/* Open RELATIVE (to DIRFD, or a path with AT_FDCWD) read-only without
 * blocking, and only if it is a regular file; *ST is filled.  Returns the
 * descriptor with O_NONBLOCK cleared, or -1 with errno set, not reported
 * (EINVAL: not a regular file, *ST says what it is; ELOOP: a symbolic link
 * with VK_READ_NOFOLLOW).  Safe in a thread.
 */
int vk_open_regular_quiet(int dirfd, const char *relative, unsigned flags, struct stat *st);
/* Why vk_open_regular_quiet failed with ERR, for a message. */
const char *vk_open_error(int err, const struct stat *st);
/* vk_open_regular_quiet that reports its failure naming PATH (a missing
 * file is VK_EXIT_NOT_FOUND).
 */
int vk_open_regular(int dirfd, const char *relative, const char *path, unsigned flags);
/* Refuse FD unless it is a regular file; clear O_NONBLOCK.  0 or -1 (reported). */
int vk_regular_fd(int fd, const char *path);

/* Read the whole regular file RELATIVE (to DIRFD; PATH names it in
 * messages) of at most MAX bytes into a NUL-terminated string; a file
 * holding a NUL byte is refused.  The one reader of small files (XML,
 * manifests, journals) in vckpt.
 */
int vk_read_file_at(int dirfd, const char *relative, const char *path, size_t max,
                    unsigned flags, char **out);
/* Read a whole regular file PATH (bounded by MAX bytes).  Symbolic links
 * are followed (the user's own argument).
 */
int vk_read_file(const char *path, size_t max, char **out);
/* The same with VK_READ_* FLAGS. */
int vk_read_file_flags(const char *path, size_t max, unsigned flags, char **out);

/* Early writeback of files another program (QEMU) is writing: open them
 * read-only (no links, no FIFO waits; one that cannot be opened is left
 * out), then vk_writeback_kick starts the writeback of what they hold so
 * far, without waiting for it (at most every 40 ms; callers kick every 50).
 * The data must reach the disk before vckpt commits anyway: started while
 * the writer runs, it goes out meanwhile instead of all at the final fsync.
 */
struct vk_writeback {
  int *fds;
  size_t n;
  double last;
};
void vk_writeback_open(struct vk_writeback *wb, const char *const *paths, size_t n);
void vk_writeback_kick(struct vk_writeback *wb);
void vk_writeback_close(struct vk_writeback *wb);

/* Whether some process (a QEMU) has the image open: QEMU takes
 * open-file-description locks on bytes 100-299 of every image it opens.
 */
bool vk_image_held(const char *path);
/* Whether A and B name the same file (device and inode; false when either
 * cannot be looked at).
 */
bool vk_same_file(const char *a, const char *b);
/* Whether A and B name the same image: the same string, or (one of them
 * through a linked directory, as a domain definition may) the same file.
 */
bool vk_same_image(const char *a, const char *b);

/* fsync a file or directory descriptor; WHAT names it in the error. */
int vk_sync_fd(int fd, const char *what);
/* Write LEN bytes of BUF to FD; WHAT names it in the error. */
int vk_write_all(int fd, const void *buf, size_t len, const char *what);
/* Write LEN bytes of BUF as the new file RELATIVE in DIRFD (PATH names
 * it), mode 0600, never replacing a file nor following a link, and fsync
 * it.  0, or -1 (reported; nothing is left).
 */
int vk_write_new(int dirfd, const char *relative, const char *path, const void *buf, size_t len);
/* Write CONTENT to RELATIVE (a name in DIRFD, or "SUB/NAME" in a directory
 * below it; PATH names it in messages) crash-safely: a new temporary file
 * (mode 0600, created O_EXCL, its name starting with VK_TMP_PREFIX and
 * ending in ".new") in the
 * same directory, fsync, rename over the target (only when REPLACE;
 * otherwise an existing target is an error and is never replaced), fsync
 * of the directory.  Once the rename is done it returns 0: a failed fsync
 * of the directory is then a warning, since the new file is what readers
 * already see (a committed manifest must not be rolled back).
 */
int vk_write_atomic(int dirfd, const char *relative, const char *path, const char *content,
                    bool replace);
/* The same for a file others may read (MODE, e.g. 0644: metrics for
 * node_exporter); files holding guest data stay 0600 (vk_write_atomic).
 */
int vk_write_atomic_mode(int dirfd, const char *relative, const char *path, const char *content,
                         bool replace, mode_t mode);
#define VK_TMP_PREFIX ".tmp."
/* Remove the temporary files of vk_write_atomic that a killed run left in
 * directory SUB ("" for DIRFD itself) of DIRFD, which is DIR in messages.
 * Only whoever holds the lock of the directory may call it.
 */
void vk_sweep_temps(int dirfd, const char *dir, const char *sub);

/* pread callback of a vk_source (qcow2.h) on a file descriptor *OPAQUE:
 * exactly COUNT bytes at OFFSET, 0, or -1 with errno set (EIO at the end of
 * the file).
 */
int vk_fd_pread(void *opaque, void *buf, size_t count, uint64_t offset);
/* Write exactly LEN bytes of BUF at OFFSET of FD: 0, or -1 with errno set
 * (nothing reported).
 */
int vk_pwrite_all(int fd, const void *buf, size_t len, uint64_t offset);

#endif
