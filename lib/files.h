/* vckpt - file-level restore: the files of a backup, read through a
 * libguestfs appliance (vckpt files ls, get).
 *
 * The guest's file systems are parsed only by the appliance's kernel,
 * never the host's.  Before libguestfs sees anything, every file of the
 * backup's chains is checked by vckpt: the repository opened read-only
 * under the shared lock (prune and backups wait), each file a regular
 * file of the recorded size and checksum, qcow2, no external data file,
 * no encryption, its backing name exactly its parent's file, no loop.
 * The files stay open, and the appliance reads exactly those open files:
 * a private directory holds, for each, a symbolic link to
 * /proc/PID/fd/N named as the file above names it, and one overlay per
 * disk whose backing is the link of the top file.  Every backing name
 * QEMU resolves is resolved in that directory, where only the checked
 * files are; nothing in the repository is resolved by name again.
 *
 * The appliance runs under a watchdog (REQ->timeout): when it expires, or
 * a stop signal comes, vckpt's children (QEMU, libguestfs's helpers) are
 * killed and the operation fails.  KVM is tried first; when the appliance
 * cannot start with it, TCG (libguestfs's force_tcg).
 */
#ifndef VCKPT_FILES_H
#define VCKPT_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The default of --timeout: the longest an appliance may live, seconds. */
#define VK_FILES_TIMEOUT 600

struct vk_restic_request;

struct vk_files_request {
  const char *repo_dir, *domain;
  /* A copy in a restic repository instead of REPO_DIR (its domain is
   * DOMAIN): staged in the private directory first (vk_restic_stage).
   */
  const struct vk_restic_request *restic;
  const char *at;          /* backup id or checkpoint; NULL: the newest backup */
  const char *at2;         /* a second backup in the same appliance (diff), or NULL */
  bool os;                 /* paths are the guest's own tree (inspection) */
  bool mount;              /* for vk_files_serve: the file systems at the top of
                              the appliance's tree, --timeout for the start only */
  unsigned timeout;        /* seconds; 0: VK_FILES_TIMEOUT */
};

struct vk_files;

/* Whether vckpt was built with libguestfs. */
bool vk_files_available(void);

/* Check the backup's chains, then start the appliance on them (see above).
 * 0 with *OUT, or -1 (reported: VK_EXIT_PREFLIGHT when vckpt was built
 * without libguestfs or the appliance cannot start on this machine).
 */
int vk_files_open(const struct vk_files_request *req, struct vk_files **out);
/* Stop the appliance, remove the private directory, close the repository. */
void vk_files_close(struct vk_files *f);
/* The id of the backup opened (and of the second one, or NULL). */
const char *vk_files_backup_id(const struct vk_files *f);
/* The restic snapshot read (REQ->restic), or NULL. */
const char *vk_files_snapshot_id(const struct vk_files *f);
const char *vk_files_backup_id2(const struct vk_files *f);

/* One entry of a listing.  NAME and TARGET are as the guest has them (any
 * byte but NUL and '/' in NAME): escape them before printing
 * (vk_escape_name).
 */
struct vk_file_entry {
  char *name;
  char type;               /* '-' file, 'd', 'l', 'c', 'b', 'p' fifo, 's' socket, '?' */
  uint32_t mode;           /* permission bits (07777) */
  uint64_t size, uid, gid, nlink;
  int64_t mtime;           /* seconds */
  int64_t mtime_ns;        /* and nanoseconds */
  char *target;            /* symbolic link: where it points, else NULL */
  char *fstype;            /* a file system of the top level: its type, else NULL */
};
void vk_file_entries_free(struct vk_file_entry *e, size_t n);

/* List PATH of the first backup: without REQ->os, "/" lists the file
 * systems (each a directory named after its partition or volume: vda1,
 * vg0-root) and "/NAME/..." is a path in one; with it, PATH is in the
 * guest's tree.  A directory lists its entries (sorted by name), anything
 * else itself.  Symbolic links on the way are resolved inside the guest
 * (never above its root); the last one is not followed.
 */
int vk_files_ls(struct vk_files *f, const char *path, struct vk_file_entry **out, size_t *n);

/* What vk_files_get did. */
struct vk_files_got {
  size_t listed;           /* entries the appliance listed under the paths */
  size_t written;          /* entries written */
  size_t skipped;          /* device nodes, FIFOs and sockets: never written */
  size_t files, dirs, links;
  uint64_t bytes;
};
/* Copy PATHS (NULL-terminated, as vk_files_ls takes them) of the first
 * backup into directory TO (vk_dir_open_trusted: no link followed, no
 * directory others may change), each as its last name, never replacing
 * anything.  Modes and times are kept; without OWNER, group and other bits
 * are dropped (files 0600 at most, directories 0700) and the owner is
 * vckpt's user; with it the guest's numeric owner and full mode.  The
 * whole copy is made in a private directory inside TO and moved into place
 * only when every entry the appliance listed was written (device nodes,
 * FIFOs and sockets skipped and counted): a damaged file system fails
 * (VK_EXIT_FAILURE) and leaves nothing.
 */
int vk_files_get(struct vk_files *f, char *const *paths, const char *to, bool owner,
                 struct vk_files_got *got);

/* What differs between the two sides of a changed entry (bits). */
enum {
  VK_CHANGE_TYPE = 1 << 0,
  VK_CHANGE_SIZE = 1 << 1,
  VK_CHANGE_MODE = 1 << 2,
  VK_CHANGE_OWNER = 1 << 3,
  VK_CHANGE_MTIME = 1 << 4,
  VK_CHANGE_TARGET = 1 << 5,     /* a symbolic link's target */
  VK_CHANGE_CONTENTS = 1 << 6,   /* the SHA-256 of a regular file (with CHECKSUM) */
  VK_CHANGE_UNREADABLE = 1 << 7, /* lstat failed on a side: not comparable */
};

/* A change between the two backups of a diff. */
struct vk_file_change {
  char *path;              /* as the user names it (PATH and below): not escaped */
  char what;               /* 'A' added, 'D' removed (deleted), 'M' changed */
  unsigned fields;         /* 'M': the VK_CHANGE_* bits that differ */
};
void vk_file_changes_free(struct vk_file_change *c, size_t n);
/* Compare PATH (as vk_files_ls takes it) in the two backups (REQ->at, the
 * older side, and REQ->at2): entries added, removed and changed, in tree
 * order (an entry, then what is under it, names sorted).  Under an entry
 * added or removed every entry is listed too; an entry whose type changed
 * is 'M' with VK_CHANGE_TYPE, and what was under it (removed) or is now
 * (added) is listed.  Compared: type, size, mode, owner, modification time
 * (nanoseconds) and link target; a directory's size and time are not (its
 * entries are compared); with CHECKSUM, regular files alike in all of that
 * are read whole on both sides and their SHA-256 compared.
 */
int vk_files_diff(struct vk_files *f, const char *path, bool checksum,
                  struct vk_file_change **out, size_t *n);

/* ---- files mount ---- */

/* Check MOUNTPOINT for a files mount: an existing empty directory, not a
 * symbolic link, reached without a link or directory others may change
 * (vk_dir_open_trusted).  0 with *ABS (absolute, no link), or -1
 * (VK_EXIT_USAGE, reported).
 */
int vk_files_mount_point(const char *mountpoint, char **abs);

/* Serve the backup F holds (opened with REQ->mount) read-only through FUSE
 * at MOUNTPOINT (vk_files_mount_point's ABS) until it is unmounted (vckpt
 * files umount, fusermount -u); a stop signal unmounts it (lazily).  Every
 * file system is a top-level directory named as vk_files_ls names them
 * (one that cannot be mounted is left out with a warning), or with --os
 * the guest's own tree.  Only the user who mounted it may enter it (FUSE
 * without allow_other).  READY_FD (>= 0) gets "R" and the backup's id once
 * the mount is there and is closed, and the process then stands alone:
 * standard input, output and error on /dev/null, not killed with its
 * parent.  0 once unmounted, or -1 (reported).
 */
int vk_files_serve(struct vk_files *f, const char *mountpoint, int ready_fd);

/* Whether FD can be READY_FD of vk_files_serve (a pipe: the process was
 * started by vk_files_mount_start; it is made close-on-exec); -1
 * (VK_EXIT_USAGE, reported) if not.
 */
int vk_files_ready_fd_check(int fd);

/* Start vckpt itself with the arguments ARGV (the hidden command serving a
 * mount, with the end of a pipe as its descriptor 3: vk_files_serve) and wait until it says the mount
 * is ready (0: *PID, *BACKUP_ID) or ends (-1: its status, its errors
 * having gone to vckpt's standard error); a stop signal ends it
 * (VK_EXIT_INTERRUPTED).
 */
int vk_files_mount_start(char *const argv[], pid_t *pid, char **backup_id);

/* The seconds vk_files_umount waits for the mount's process to end. */
#define VK_FILES_UMOUNT_WAIT 60
/* Unmount the files mount at MOUNTPOINT (fusermount -u) and wait until its
 * process, and with it the appliance, has ended.  A mount whose process
 * died (a killed vckpt) is unmounted too.  Not a files mount:
 * VK_EXIT_NOT_FOUND; in use: VK_EXIT_BUSY.  *PID gets the process waited
 * for (0: none was left).
 */
int vk_files_umount(const char *mountpoint, pid_t *pid);

#endif
