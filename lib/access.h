/* vckpt - who may reach what: directories only root can change, and the
 * directories QEMU's user must be able to search.
 *
 * Two questions every path a domain will use must answer (HACKING.md,
 * "Permissions"):
 *
 * - Can another user change what is there?  A directory another user owns,
 *   or may write (group or others) without being a root-owned sticky one
 *   like /tmp, lets that user rename a file of their own over one vckpt
 *   made, or swap a directory for a symbolic link, between two calls.
 *   vk_dir_open_trusted walks a path one component at a time without
 *   following a link another user could have planted, and refuses such a
 *   directory anywhere on the way.
 * - Can QEMU reach it?  QEMU runs as its own user (libvirt-qemu on Debian,
 *   qemu on Fedora); libvirt's DAC driver chowns the images it hands QEMU,
 *   never the directories above them, so each of those must be searchable
 *   by QEMU's user: vk_qemu_blocker names the first one that is not.
 *
 * Directories vckpt makes for QEMU's use (the repository's, a drill's,
 * --to's) are VK_DIR_MODE: searchable by everyone, listable and writable by
 * their owner alone.  The files in them stay 0600.
 */
#ifndef VCKPT_ACCESS_H
#define VCKPT_ACCESS_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

/* The mode of the directories vckpt makes: rwx--x--x. */
#define VK_DIR_MODE 0711

/* QEMU's user and group as libvirt runs it (virt.c: vk_qemu_user). */
struct vk_qemu_user {
  bool known;              /* false: libvirt did not say; nothing is checked */
  uid_t uid;
  gid_t gid;
};

/* Open directory PATH (absolute, or relative to the working directory) for
 * a purpose WHAT ("repository", "--to"), following only symbolic links that
 * sit in directories only root (or vckpt's user) can change, and refusing
 * (VK_EXIT_USAGE, reported) a directory on the way that another user owns
 * or may write (an ACL's group-write counts), unless it is root's and
 * sticky (/tmp) and not the last one.
 * With CREATE, a missing last component is made (VK_DIR_MODE).  *ABS, if
 * not NULL, gets the absolute path without links.  A descriptor, or -1.
 */
int vk_dir_open_trusted(const char *path, const char *what, bool create, char **abs);

/* vk_dir_open_trusted for a base directory the caller makes its own
 * private directory in (a drill's $TMPDIR, the lock directory's parent): a
 * root-owned sticky directory (/tmp, /var/tmp) is accepted as the last one.
 */
int vk_dir_open_trusted_base(const char *path, const char *what, char **abs);

/* Whether vk_dir_open_trusted would accept directory PATH (nothing is
 * reported).
 */
bool vk_dir_is_trusted(const char *path);

/* Open (making it, MODE, if missing) a private directory of vckpt's such as
 * the host-wide lock directory: its parent passes vk_dir_open_trusted, and
 * the directory itself is vckpt's user's and writable by no one else.  A
 * descriptor, or -1 (reported).
 */
int vk_dir_open_private(const char *path, const char *what, mode_t mode);

/* Whether a directory with status ST is one vckpt may trust: owned by root
 * or vckpt's user and writable by no one else (a sticky one of root's is
 * accepted when STICKY_OK).  *WHY, when not, says why (static text).
 */
bool vk_dir_trusted(const struct stat *st, bool sticky_ok, const char **why);

/* Whether user QU may search (x) a directory with status ST. */
bool vk_qemu_may_search(const struct vk_qemu_user *qu, const struct stat *st);

/* The first directory on the way to directory DIR (inclusive) that QEMU's
 * user QU cannot search, with its mode in *MODE and owner in *UID; NULL if
 * QEMU can reach DIR, or QU is unknown or root.  Allocated.
 */
char *vk_qemu_blocker(const struct vk_qemu_user *qu, const char *dir, mode_t *mode, uid_t *uid);

/* Refuse (VK_EXIT_PREFLIGHT, reported) directory DIR, the place of WHAT
 * ("--to"), when QEMU's user QU cannot reach it, naming the directory to
 * change and how.  0 when it can (or QU is unknown).
 */
int vk_qemu_check_reach(const struct vk_qemu_user *qu, const char *dir, const char *what);

/* Give FD (a regular file of vckpt's, such as a repository image libvirt
 * chowned to QEMU's user for a domain) back to vckpt's user, mode 0600.
 * 1 if it had to be changed, 0 if not, -1 with errno set.
 */
int vk_give_back_fd(int fd);

/* The private temporary directory of a run (restore's in --to, a drill's
 * in $TMPDIR): vckpt's user's, MODE (0700; VK_DIR_MODE when QEMU's user
 * must reach what is in it), named PREFIX and six unpredictable
 * characters, and flock'd for as long as the run (and its children, which
 * inherit the descriptor) lasts.  It is made under a name no sweep looks
 * at, locked, and only then renamed to PREFIX..., so another run's sweep
 * never sees it unlocked.
 */
struct vk_private_tmp {
  int basefd;              /* the directory it is in (the caller's) */
  const char *base;        /* its absolute path (the caller's) */
  char *name;              /* NULL: none */
  int fd;                  /* -1: none */
};
/* Sweep the directories killed runs left in BASEFD (BASE: absolute): ours,
 * named PREFIX..., no more than MODE, their lock free ("removed PATH,
 * which a killed WHO left"); then make T's directory there (a PREFIX
 * starting with a dot makes a hidden one, also while it is being made).
 * 0, or -1 (reported; T holds nothing).
 */
int vk_private_tmp_make(struct vk_private_tmp *t, int basefd, const char *base,
                        const char *prefix, mode_t mode, const char *who);
/* The sweep of vk_private_tmp_make alone (files umount after a mount whose
 * process was killed).
 */
void vk_private_tmp_sweep(int basefd, const char *base, const char *prefix, mode_t mode,
                          const char *who);
/* Remove T's directory and everything in it (subdirectories up to 256
 * levels deep, no link followed); T holds nothing after.
 */
void vk_private_tmp_remove(struct vk_private_tmp *t);

#endif
