/* vckpt - file-level restore through a libguestfs appliance (files.h).
 *
 * The order of a run: the repository opened shared, the backup chosen,
 * every chain file checked (header, size, checksum) on descriptors kept
 * open; the private directory of links and overlays made; only then the
 * appliance started, under the watchdog.  libguestfs is optional: built
 * without it, vk_files_open says so.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "checksum.h"
#include "files.h"
#include "fileio.h"
#include "hostlock.h"
#include "log.h"
#include "process.h"
#include "qcow2.h"
#include "repo.h"
#include "restic.h"
#include "testhook.h"
#include "util.h"

void
vk_file_entries_free(struct vk_file_entry *e, size_t n)
{
  for (size_t i = 0; e && i < n; i++) {
    free(e[i].name);
    free(e[i].target);
    free(e[i].fstype);
  }
  free(e);
}

void
vk_file_changes_free(struct vk_file_change *c, size_t n)
{
  for (size_t i = 0; c && i < n; i++)
    free(c[i].path);
  free(c);
}

/* ---- files mount: what needs no appliance ---- */

/* The FUSE mount's source names the process serving it (vk_files_umount
 * waits for it); its type is "fuse." MOUNT_SUBTYPE.
 */
#define MOUNT_FSNAME "vckpt-files-"
#define MOUNT_SUBTYPE "vckpt"
/* The private directory's name in $TMPDIR (else /var/tmp). */
#define FILES_PREFIX "vckpt-files-"

/* $TMPDIR, else /var/tmp: where the private directories are. */
static const char *
tmp_base(void)
{
  const char *base = getenv("TMPDIR");
  return base && *base ? base : "/var/tmp";
}

int
vk_files_mount_point(const char *mountpoint, char **abs)
{
  *abs = NULL;
  struct stat st;
  int lr = lstat(mountpoint, &st);
  if (lr < 0 || !S_ISDIR(st.st_mode)) {
    CLEANUP_FREE char *m = vk_escape_name(mountpoint);
    vk_error(VK_EXIT_USAGE, "mount point %s: %s: give an existing empty directory", m,
             lr < 0 ? strerror(errno) : S_ISLNK(st.st_mode) ? "a symbolic link"
                                      : "not a directory");
    return -1;
  }
  CLEANUP_CLOSE int fd = vk_dir_open_trusted(mountpoint, "mount point", false, abs);
  if (fd < 0)
    return -1;
  /* The directory opened is the one checked: no link on the way. */
  struct stat fst;
  DIR *d = NULL;
  int dfd = fstat(fd, &fst) == 0 && fst.st_dev == st.st_dev && fst.st_ino == st.st_ino
            ? dup(fd) : -1;
  if (dfd >= 0 && !(d = fdopendir(dfd)))
    close(dfd);
  struct dirent *e;
  bool empty = d != NULL;
  while (d && (e = readdir(d)) != NULL)
    empty &= strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
  if (d)
    closedir(d);
  if (!empty) {
    CLEANUP_FREE char *m = vk_escape_name(mountpoint);
    vk_error(VK_EXIT_USAGE, "mount point %s: %s: give an existing empty directory", m,
             dfd < 0 ? "changed while it was checked" : "not empty");
    free(*abs);
    *abs = NULL;
    return -1;
  }
  return 0;
}

int
vk_files_ready_fd_check(int fd)
{
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
    vk_error(VK_EXIT_USAGE, "files serve is started by files mount only");
    return -1;
  }
  /* Not for the programs the appliance runs. */
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  return 0;
}

int
vk_files_mount_start(char *const argv[], pid_t *pid, char **backup_id)
{
  *pid = 0;
  *backup_id = NULL;
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) {
    vk_error(VK_EXIT_FAILURE, "pipe: %s", strerror(errno));
    return -1;
  }
  /* vckpt itself, by path (under valgrind, the program valgrind runs). */
  char program[PATH_MAX];
  ssize_t l = readlink("/proc/self/exe", program, sizeof program - 1);
  if (l <= 0) {
    vk_error(VK_EXIT_FAILURE, "/proc/self/exe: %s", strerror(errno));
    close(p[0]);
    close(p[1]);
    return -1;
  }
  program[l] = '\0';
  CLEANUP_STRV char **full = NULL;
  vk_strv_push(&full, vk_xstrdup(program));
  for (size_t i = 0; argv[i]; i++)
    vk_strv_push(&full, vk_xstrdup(argv[i]));
  vk_stop_catch_begin();
  pid_t child;
  /* Killed with vckpt until it is ready (it then clears that itself). */
  int e = vk_process_start_with(full, VK_CHILD_NULL, VK_CHILD_INHERIT, p[1], VK_CHILD_BOUND,
                                &child);
  close(p[1]);
  if (e != 0) {
    close(p[0]);
    vk_stop_catch_end();
    vk_error(VK_EXIT_FAILURE, "cannot start the mount's process: %s", strerror(e));
    return -1;
  }
  char buf[512];
  size_t len = 0;
  bool stopped = false;
  for (;;) {
    struct pollfd pf[2] = { { .fd = p[0], .events = POLLIN },
                            { .fd = vk_stop_fd(), .events = POLLIN } };
    int n = poll(pf, 2, -1);
    if (n < 0 && errno == EINTR)
      continue;
    if (vk_stop_signal || (n > 0 && pf[1].revents)) {
      stopped = true;
      break;
    }
    ssize_t r = read(p[0], buf + len, sizeof buf - 1 - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0 || (len += (size_t)r) == sizeof buf - 1)
      break;
  }
  close(p[0]);
  buf[len] = '\0';
  if (!stopped && len > 1 && buf[0] == 'R' && !memchr(buf, '\n', len)) {
    vk_stop_catch_end();
    *pid = child;
    *backup_id = vk_xstrdup(buf + 1);
    return 0;
  }
  if (stopped)
    kill(child, SIGTERM);
  int st = 0;
  while (waitpid(child, &st, 0) < 0 && errno == EINTR)
    ;
  vk_stop_catch_end();
  if (stopped)
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: the mount was not made",
             (int)vk_stop_signal);
  else if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
    vk_error((enum vk_exit)WEXITSTATUS(st), "the mount's process ended with status %d before "
             "the mount was ready (its errors are above)", WEXITSTATUS(st));
  else
    vk_error(VK_EXIT_FAILURE, "the mount's process ended before the mount was ready (%s %d)",
             WIFSIGNALED(st) ? "signal" : "status",
             WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
  return -1;
}

/* Undo mountinfo's octal escapes (\040) in place. */
static void
unescape_mountinfo(char *s)
{
  char *w = s;
  for (char *r = s; *r; ) {
    if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
        r[3] >= '0' && r[3] <= '7') {
      *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
      r += 4;
    } else
      *w++ = *r++;
  }
  *w = '\0';
}

/* The files mount at ABS in this process's mount table: 1 with *PID (its
 * process, as its source names it), 0 when none (the last mount there is
 * not one: *OTHER gets its type), -1 (reported).
 */
static int
find_mount(const char *abs, pid_t *pid, char **other)
{
  *pid = 0;
  *other = NULL;
  FILE *fp = fopen("/proc/self/mountinfo", "re");
  if (!fp) {
    vk_error(VK_EXIT_FAILURE, "/proc/self/mountinfo: %s", strerror(errno));
    return -1;
  }
  char *line = NULL;
  size_t cap = 0;
  int found = 0;
  while (getline(&line, &cap, fp) > 0) {
    line[strcspn(line, "\n")] = '\0';
    /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER */
    char *save = NULL, *f[5] = { NULL };
    char *t = strtok_r(line, " ", &save);
    for (int i = 0; t && i < 5; i++, t = i < 5 ? strtok_r(NULL, " ", &save) : t)
      f[i] = t;
    if (!f[4])
      continue;
    unescape_mountinfo(f[4]);
    if (strcmp(f[4], abs) != 0)
      continue;
    char *type = NULL, *src = NULL, *super = NULL;
    while ((t = strtok_r(NULL, " ", &save)) && strcmp(t, "-") != 0)
      ;
    if (t) {
      type = strtok_r(NULL, " ", &save);
      src = type ? strtok_r(NULL, " ", &save) : NULL;
      super = src ? strtok_r(NULL, " ", &save) : NULL;
    }
    /* The last mount there is the one seen. */
    free(*other);
    *other = vk_xstrdup(type ? type : "?");
    found = 0;
    *pid = 0;
    if (!type || !src || strcmp(type, "fuse." MOUNT_SUBTYPE) != 0 ||
        strncmp(src, MOUNT_FSNAME, strlen(MOUNT_FSNAME)) != 0)
      continue;
    /* Made by this user (FUSE records who mounted it). */
    CLEANUP_FREE char *me = vk_xasprintf("user_id=%ld", (long)geteuid());
    bool mine = false;
    char *osave = NULL;
    for (char *o = super ? strtok_r(super, ",", &osave) : NULL; o;
         o = strtok_r(NULL, ",", &osave))
      mine |= strcmp(o, me) == 0;
    char *end;
    long n = strtol(src + strlen(MOUNT_FSNAME), &end, 10);
    if (!mine || *end || n <= 0)
      continue;
    found = 1;
    *pid = (pid_t)n;
  }
  free(line);
  fclose(fp);
  if (found) {
    free(*other);
    *other = NULL;
  }
  return found;
}

/* MOUNTPOINT made absolute without resolving its last name (a mount whose
 * process died cannot be looked at), or NULL (reported).
 */
static char *
mount_abs(const char *mountpoint)
{
  CLEANUP_FREE char *copy = vk_xstrdup(mountpoint);
  size_t len = strlen(copy);
  while (len > 1 && copy[len - 1] == '/')
    copy[--len] = '\0';
  char *slash = strrchr(copy, '/');
  const char *base = slash ? slash + 1 : copy;
  CLEANUP_FREE char *parent = vk_xstrdup(slash ? copy : ".");
  if (slash)
    parent[slash == copy ? 1 : (size_t)(slash - copy)] = '\0';
  if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
    CLEANUP_FREE char *m = vk_escape_name(mountpoint);
    vk_error(VK_EXIT_USAGE, "%s: name the mount point itself", m);
    return NULL;
  }
  CLEANUP_FREE char *real = realpath(parent, NULL);
  if (!real) {
    CLEANUP_FREE char *m = vk_escape_name(mountpoint);
    vk_error(VK_EXIT_NOT_FOUND, "%s: %s", m, strerror(errno));
    return NULL;
  }
  return vk_xasprintf("%s/%s", strcmp(real, "/") ? real : "", base);
}

int
vk_files_umount(const char *mountpoint, pid_t *pidp)
{
  *pidp = 0;
  CLEANUP_FREE char *abs = mount_abs(mountpoint);
  if (!abs)
    return -1;
  CLEANUP_FREE char *shown = vk_escape_name(abs), *other = NULL;
  pid_t pid = 0;
  int r = find_mount(abs, &pid, &other);
  if (r < 0)
    return -1;
  if (r == 0) {
    CLEANUP_FREE char *t = other ? vk_escape_name(other) : NULL;
    vk_error(VK_EXIT_NOT_FOUND, "%s: not a vckpt files mount%s%s%s", shown,
             t ? " (a mount of type " : "", t ? t : "", t ? ")" : "");
    return -1;
  }
  /* Held before the unmount: the process waited for is the one that
   * served, even if its id is used again.
   */
  CLEANUP_CLOSE int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  char *argv[] = { (char *)"fusermount", (char *)"-u", abs, NULL };
  int status = 0;
  CLEANUP_FREE char *msg = NULL;
  vk_stop_catch_begin();
  int sr = vk_spawn(argv, -1, -1, &status, &msg);
  if (sr == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    CLEANUP_FREE char *m = vk_printable_text(msg && *msg ? msg : "failed");
    bool busy = msg && strstr(msg, "busy");
    vk_error(busy ? VK_EXIT_BUSY : VK_EXIT_FAILURE, "%s: fusermount -u: %s%s", shown, m,
             busy ? " (a program has a file or its working directory in it)" : "");
    sr = -1;
  }
  if (sr != 0) {
    vk_stop_catch_end();
    return -1;
  }
  /* Its process ends once the appliance has: wait for it. */
  int rc = 0;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  time_t end = ts.tv_sec + VK_FILES_UMOUNT_WAIT;
  while (pidfd >= 0) {
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (ts.tv_sec >= end) {
      vk_error(VK_EXIT_FAILURE, "%s: unmounted, but its process %ld did not end within %d s",
               shown, (long)pid, VK_FILES_UMOUNT_WAIT);
      rc = -1;
      break;
    }
    struct pollfd pf[2] = { { .fd = pidfd, .events = POLLIN },
                            { .fd = vk_stop_fd(), .events = POLLIN } };
    int n = poll(pf, 2, 1000);
    if (n > 0 && pf[0].revents)
      break;
    if (vk_stop_signal || (n > 0 && pf[1].revents)) {
      vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: %s is unmounted; its process "
               "%ld is still ending", (int)vk_stop_signal, shown, (long)pid);
      rc = -1;
      break;
    }
  }
  vk_stop_catch_end();
  *pidp = pidfd >= 0 ? pid : 0;
  /* A killed mount's process left its private directory: removed now
   * rather than by the next files command, where that one would look (a
   * directory of root's or ours that others cannot change, or sticky).
   */
  struct stat bst;
  bool base_ok = rc == 0 && stat(tmp_base(), &bst) == 0 && S_ISDIR(bst.st_mode) &&
                 (bst.st_uid == 0 || bst.st_uid == geteuid()) &&
                 (!(bst.st_mode & 022) || (bst.st_mode & S_ISVTX));
  CLEANUP_FREE char *base = NULL;
  CLEANUP_CLOSE int basefd = base_ok ? vk_dir_open_trusted_base(tmp_base(), "temporary "
                                                                "directory", &base) : -1;
  if (basefd >= 0)
    vk_private_tmp_sweep(basefd, base, FILES_PREFIX, 0700, "vckpt files");
  return rc;
}

#ifndef HAVE_LIBGUESTFS

bool
vk_files_available(void)
{
  return false;
}

int
vk_files_open(const struct vk_files_request *req, struct vk_files **out)
{
  *out = NULL;
  vk_error(VK_EXIT_PREFLIGHT, "this vckpt was built without libguestfs: file-level restore "
           "is not available (build it with the Debian package libguestfs-dev installed, "
           "or restore the whole disk with 'vckpt restore')");
  return -1;
}

void vk_files_close(struct vk_files *f) { }
const char *vk_files_backup_id(const struct vk_files *f) { return NULL; }
const char *vk_files_backup_id2(const struct vk_files *f) { return NULL; }
const char *vk_files_snapshot_id(const struct vk_files *f) { return NULL; }
int vk_files_ls(struct vk_files *f, const char *path, struct vk_file_entry **out, size_t *n)
{
  return -1;
}
int vk_files_get(struct vk_files *f, char *const *paths, const char *to, bool owner,
                 struct vk_files_got *got)
{
  return -1;
}
int vk_files_diff(struct vk_files *f, const char *path, bool checksum,
                  struct vk_file_change **out, size_t *n)
{
  return -1;
}
int vk_files_serve(struct vk_files *f, const char *mountpoint, int ready_fd)
{
  return -1;
}

#else /* HAVE_LIBGUESTFS */

#include <guestfs.h>

/* The staging directory of a get, hidden in --to. */
#define GET_PREFIX ".vckpt-files-"
/* How deep a copied tree may go, and how long a path in it. */
#define TREE_MAX_DEPTH 200
#define TREE_MAX_PATH 4096
/* Symbolic links followed while resolving one path, as Linux does. */
#define MAX_LINK_HOPS 40

bool
vk_files_available(void)
{
  return true;
}

/* One checked file of a chain, kept open: the appliance reads it through
 * /proc/PID/fd/FD.
 */
struct chain_file {
  const struct vk_backup_disk *d;
  int fd;
  uint64_t size;
  char *link;              /* its link's name in the private directory */
};

/* A file system of a backup as vckpt shows it. */
struct fsys {
  char *name;              /* vda1, vg0-root */
  char *dev;               /* the appliance's device: /dev/sda1, /dev/vg0/root */
  char *type;
  bool mounted;
};

/* One backup as the appliance sees it: its drives, its file systems, the
 * directory of the appliance where its file systems are mounted.
 */
struct view {
  const struct vk_backup *b;
  size_t first_drive;      /* its disks are drives first_drive.. */
  char *prefix;            /* "/b1": mount points are /b1/NAME, or /b1 with --os */
  struct fsys *fs;
  size_t nfs;
  bool listed;
};

struct vk_files {
  struct vk_repo *repo;
  bool os;
  unsigned timeout;
  struct view view[2];
  size_t nviews;
  char **targets;          /* the disk target of each drive */
  size_t ndrives;
  struct chain_file *files;
  size_t nfiles;
  char *base;              /* $TMPDIR, absolute */
  int basefd;
  struct vk_private_tmp tmp;
  struct vk_restic_snapshot snap;  /* a restic copy's snapshot (REQ->restic) */
  guestfs_h *g;
  /* the watchdog */
  pthread_t wd;
  bool wd_running;
  int wd_pipe[2];
  volatile int killed;     /* 1: --timeout expired, 2: a stop signal */
  /* A step's own time limit (the KVM try): the watchdog kills the
   * children when it passes, sets PHASE_EXPIRED and goes on watching.
   */
  pthread_mutex_t phase_lock;
  double phase_deadline;   /* 0: none */
  bool phase_expired;
  double deadline;         /* the end of --timeout; 0: none (a mount being served) */
  char *serve_mp;          /* a mount being served: a stop signal unmounts it */
  bool catching;
  bool probe;              /* resolve: a missing path is 1, not an error (diff) */
};

/* ---- the watchdog ---- */

/* Kill every child of this process (QEMU, libguestfs's recovery process,
 * qemu-img, supermin): the calls waiting on them then fail.
 */
static void
kill_children(void)
{
  DIR *d = opendir("/proc");
  struct dirent *e;
  pid_t self = getpid();
  if (!d)
    return;
  while ((e = readdir(d)) != NULL) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end || pid <= 0)
      continue;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      continue;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
      continue;
    buf[n] = '\0';
    /* "PID (COMM) STATE PPID ...": COMM may hold anything, so the last ')'. */
    char *p = strrchr(buf, ')');
    char state;
    long ppid;
    if (p && sscanf(p + 1, " %c %ld", &state, &ppid) == 2 && ppid == self)
      kill((pid_t)pid, SIGKILL);
  }
  closedir(d);
}

static double
now_seconds(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Unmount MOUNTPOINT lazily (fusermount -u -z): what a stop signal does to
 * a mount being served.  Nothing reported (a thread of its own).
 */
static void
unmount_lazy(const char *mountpoint)
{
  char *argv[] = { (char *)"fusermount", (char *)"-u", (char *)"-z", (char *)mountpoint, NULL };
  pid_t pid;
  int st;
  if (vk_process_start(argv, VK_CHILD_NULL, VK_CHILD_NULL, -1, &pid) == 0)
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
      ;
}

/* The watchdog thread: waits for the end of the run, the time limit or a
 * stop signal; on the last two it kills the appliance.
 */
static void *
watchdog_main(void *arg)
{
  struct vk_files *f = arg;
  for (;;) {
    double now = now_seconds();
    pthread_mutex_lock(&f->phase_lock);
    double left = f->deadline > 0 ? f->deadline - now : 60;
    if (left <= 0) {
      f->killed = 1;
      pthread_mutex_unlock(&f->phase_lock);
      break;
    }
    if (f->phase_deadline > 0 && f->phase_deadline <= now) {
      f->phase_deadline = 0;
      f->phase_expired = true;
      kill_children();
    }
    if (f->phase_deadline > 0 && f->phase_deadline - now < left)
      left = f->phase_deadline - now;
    pthread_mutex_unlock(&f->phase_lock);
    struct pollfd p[2] = { { .fd = f->wd_pipe[0], .events = POLLIN },
                           { .fd = vk_stop_fd(), .events = POLLIN } };
    /* Wake up now and then: a step's limit may have been set meanwhile. */
    int ms = left > 0.5 ? 500 : (int)(left * 1000) + 1;
    int n = poll(p, p[1].fd >= 0 ? 2 : 1, ms);
    if (n > 0 && p[0].revents)
      return NULL;
    if (vk_stop_signal || (n > 0 && p[1].revents)) {
      pthread_mutex_lock(&f->phase_lock);
      bool serving = f->serve_mp != NULL;
      if (!serving)
        f->killed = 2;
      pthread_mutex_unlock(&f->phase_lock);
      if (!serving)
        break;
      /* A mount: unmounted, its loop then ends and the run with it. */
      unmount_lazy(f->serve_mp);
      struct pollfd e = { .fd = f->wd_pipe[0], .events = POLLIN };
      while (poll(&e, 1, -1) < 0 && errno == EINTR)
        ;
      return NULL;
    }
  }
  /* Kill until the run ends: a call that was starting a process as the
   * limit came could start one more.
   */
  for (;;) {
    kill_children();
    struct pollfd p = { .fd = f->wd_pipe[0], .events = POLLIN };
    if (poll(&p, 1, 200) > 0)
      return NULL;
  }
}

/* Give the next step a time limit of SECONDS (0: none); whether the last
 * one expired.
 */
static bool
phase_limit(struct vk_files *f, double seconds)
{
  pthread_mutex_lock(&f->phase_lock);
  bool expired = f->phase_expired;
  f->phase_expired = false;
  f->phase_deadline = seconds > 0 ? now_seconds() + seconds : 0;
  pthread_mutex_unlock(&f->phase_lock);
  return expired;
}

static int
watchdog_start(struct vk_files *f)
{
  f->deadline = now_seconds() + f->timeout;
  if (pipe2(f->wd_pipe, O_CLOEXEC) < 0) {
    vk_error(VK_EXIT_FAILURE, "pipe: %s", strerror(errno));
    return -1;
  }
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  int e = pthread_create(&f->wd, NULL, watchdog_main, f);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (e != 0) {
    close(f->wd_pipe[0]);
    close(f->wd_pipe[1]);
    vk_error(VK_EXIT_FAILURE, "cannot start the watchdog: %s", strerror(e));
    return -1;
  }
  f->wd_running = true;
  return 0;
}

static void
watchdog_stop(struct vk_files *f)
{
  if (!f->wd_running)
    return;
  (void)!write(f->wd_pipe[1], "x", 1);
  pthread_join(f->wd, NULL);
  close(f->wd_pipe[0]);
  close(f->wd_pipe[1]);
  f->wd_running = false;
}

/* Report the failure of a libguestfs call WHAT (MSG: libguestfs's message,
 * or NULL to take the handle's): the watchdog's kill says why, if it was one.
 */
static void
g_fail_msg(struct vk_files *f, const char *msg, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
static void
g_fail_msg(struct vk_files *f, const char *msg, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  CLEANUP_FREE char *what = NULL;
  if (vasprintf(&what, fmt, ap) < 0)
    what = NULL;
  va_end(ap);
  if (f->killed == 1)
    vk_error(VK_EXIT_FAILURE, "the appliance ran longer than --timeout %u s and was killed "
             "(%s did not finish)", f->timeout, what ? what : "a call");
  else if (f->killed == 2)
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: the appliance was stopped "
             "(%s did not finish)", (int)vk_stop_signal, what ? what : "a call");
  else {
    if (!msg)
      msg = f->g ? guestfs_last_error(f->g) : NULL;
    CLEANUP_FREE char *m = vk_printable_text(msg ? msg : "unknown error");
    vk_error(VK_EXIT_FAILURE, "%s: %s", what ? what : "libguestfs", m);
  }
}
#define g_fail(f, ...) g_fail_msg((f), NULL, __VA_ARGS__)

/* ---- the chains, checked ---- */

/* The last name of a repository file name. */
static const char *
base_name(const char *relative)
{
  const char *s = strrchr(relative, '/');
  return s ? s + 1 : relative;
}

/* Open and check the files disk D of backup B reads: the repository's own
 * cheap check of the chain (regular files, sizes, backing names as
 * recorded, no loop), then on the descriptors kept for the appliance the
 * header once more (the file read is the file checked): qcow2, no external
 * data file, no encryption, backing named exactly as its parent's file.
 * DRIVE names the top file's link.
 */
static int
collect_disk(struct vk_files *f, const struct vk_backup *b, const struct vk_backup_disk *d,
             size_t drive, uint64_t *vsize)
{
  CLEANUP_FREE char *why = NULL;
  int rc = vk_repo_check_disk_chain(f->repo, b, d->target, true, &why);
  if (rc < 0)
    return -1;
  if (rc > 0) {
    CLEANUP_FREE char *w = vk_printable(why);
    vk_error(VK_EXIT_FAILURE, "%s: %s: backup %s is not handed to the appliance",
             vk_repo_where(f->repo), w, b->id);
    return -1;
  }
  size_t max = vk_repo_manifest(f->repo)->nr_backups;
  for (size_t depth = 0; d; depth++) {
    /* The second backup of a diff may share files with the first: each is
     * opened, checked and linked once (its ancestors were too).
     */
    bool seen = false;
    for (size_t i = 0; depth > 0 && i < f->nfiles; i++)
      seen |= strcmp(f->files[i].d->file, d->file) == 0 && strncmp(f->files[i].link, "top-", 4);
    if (seen)
      break;
    CLEANUP_FREE char *path = vk_repo_file_where(f->repo, d->file);
    if (depth > max) {
      vk_error(VK_EXIT_FAILURE, "%s: the backing files form a loop", path);
      return -1;
    }
    struct stat st;
    int fd = vk_repo_open_file(f->repo, d->file, &st);
    if (fd < 0) {
      vk_error(VK_EXIT_FAILURE, "%s: %s", path, vk_open_error(errno, &st));
      return -1;
    }
    f->files = vk_xrealloc(f->files, (f->nfiles + 1) * sizeof *f->files);
    struct chain_file *cf = &f->files[f->nfiles++];
    *cf = (struct chain_file) {
      .d = d, .fd = fd, .size = st.st_size,
      .link = depth == 0 ? vk_xasprintf("top-%zu", drive) : vk_xstrdup(base_name(d->file)),
    };
    struct vk_source src = { .opaque = &cf->fd, .size = st.st_size, .pread = vk_fd_pread };
    struct vk_image img;
    char *err = NULL;
    if (vk_image_parse(&src, d->file, "qcow2", &img, &err) < 0) {
      CLEANUP_FREE char *m = vk_printable_text(err ? err : "out of memory");
      free(err);
      vk_error(VK_EXIT_FAILURE, "%s: not a qcow2 image vckpt can check: %s", path, m);
      return -1;
    }
    const char *want = d->backing ? base_name(d->backing) : NULL;
    const char *bad = NULL;
    if (img.data_file || (img.incompatible_features & VK_QCOW2_INCOMPAT_DATA_FILE))
      bad = "it names an external data file";
    else if (img.crypt_method)
      bad = "it is encrypted";
    else if ((want == NULL) != (img.backing_file == NULL) ||
             (want && strcmp(want, img.backing_file) != 0))
      bad = "its backing file is not the one the manifest records";
    else if (img.backing_format && strcmp(img.backing_format, "qcow2") != 0)
      bad = "its backing file's format is not qcow2";
    if (depth == 0)
      *vsize = img.virtual_size;
    vk_image_clear(&img);
    if (bad) {
      vk_error(VK_EXIT_FAILURE, "%s: %s: backup %s is not handed to the appliance", path, bad,
               b->id);
      return -1;
    }
    if (!d->backing)
      break;
    d = vk_repo_find_file(f->repo, d->backing, NULL);
    if (!d) {
      vk_error(VK_EXIT_FAILURE, "%s: its backing file is not in the manifest", path);
      return -1;
    }
  }
  return 0;
}

/* Hash every chain file (in threads, largest first is not worth sorting
 * for: the appliance's start dwarfs it) against the manifest; a file both
 * backups of a diff read (opened once for each, the same inode) is
 * hashed once.
 */
static int
check_sums(struct vk_files *f)
{
  struct vk_hash_job *jobs = vk_xcalloc(f->nfiles ? f->nfiles : 1, sizeof *jobs);
  CLEANUP_FREE size_t *which = vk_xcalloc(f->nfiles ? f->nfiles : 1, sizeof *which);
  size_t njobs = 0;
  for (size_t i = 0; i < f->nfiles; i++) {
    /* The same file only if the same inode: it may have been replaced
     * between the two opens.
     */
    struct stat si, sk;
    bool dup = false;
    for (size_t k = 0; k < i && !dup; k++)
      dup = strcmp(f->files[k].d->file, f->files[i].d->file) == 0 &&
            fstat(f->files[k].fd, &sk) == 0 && fstat(f->files[i].fd, &si) == 0 &&
            sk.st_dev == si.st_dev && sk.st_ino == si.st_ino;
    if (dup)
      continue;
    which[njobs] = i;
    jobs[njobs++] = (struct vk_hash_job) { .fd = f->files[i].fd,
                                           .type = f->files[i].d->checksum_type };
  }
  struct vk_hasher *h = NULL;
  int r = 0;
  if (vk_hasher_start(jobs, njobs, &h) < 0) {
    vk_error(VK_EXIT_FAILURE, "cannot start hashing: %s", strerror(errno));
    free(jobs);
    return -1;
  }
  if (vk_hasher_wait(h, vk_stop_fd()) < 0) {
    vk_hasher_free(h);
    free(jobs);
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d while checking the backup; "
             "nothing was started", (int)vk_stop_signal);
    return -1;
  }
  vk_hasher_free(h);
  for (size_t j = 0; j < njobs; j++) {
    const struct vk_backup_disk *d = f->files[which[j]].d;
    CLEANUP_FREE char *path = vk_repo_file_where(f->repo, d->file);
    if (jobs[j].err) {
      vk_error(VK_EXIT_FAILURE, "%s: read: %s", path, strerror(jobs[j].err));
      r = -1;
    } else if (!d->checksum || strcmp(jobs[j].hex, d->checksum) != 0) {
      vk_error(VK_EXIT_FAILURE, "%s: %s mismatch: %s, the manifest says %s: the file changed "
               "since the backup; it is not handed to the appliance", path,
               vk_sum_name(jobs[j].type), jobs[j].hex, d->checksum ? d->checksum : "none");
      r = -1;
    }
  }
  free(jobs);
  return r;
}

/* The private directory: a link per chain file to its open descriptor,
 * named as the file above it names it, and an overlay per drive on the
 * link of its top file.  QEMU resolves every backing name in here.
 */
static int
make_private(struct vk_files *f)
{
  if (f->tmp.name)
    return 0;
  f->basefd = vk_dir_open_trusted_base(tmp_base(), "temporary directory", &f->base);
  if (f->basefd < 0 ||
      vk_private_tmp_make(&f->tmp, f->basefd, f->base, FILES_PREFIX, 0700, "vckpt files") < 0)
    return -1;
  return 0;
}

static int
make_links(struct vk_files *f, const uint64_t *vsizes)
{
  if (make_private(f) < 0)
    return -1;
  for (size_t i = 0; i < f->nfiles; i++) {
    char target[64];
    snprintf(target, sizeof target, "/proc/%ld/fd/%d", (long)getpid(), f->files[i].fd);
    if (symlinkat(target, f->tmp.fd, f->files[i].link) < 0) {
      vk_error(VK_EXIT_FAILURE, "%s/%s/%s: %s", f->base, f->tmp.name, f->files[i].link,
               errno == EEXIST ? "two chain files of the same name" : strerror(errno));
      return -1;
    }
  }
  for (size_t i = 0; i < f->ndrives; i++) {
    CLEANUP_FREE char *top = vk_xasprintf("top-%zu", i);
    CLEANUP_FREE char *ovl = vk_xasprintf("%s/%s/disk-%zu.qcow2", f->base, f->tmp.name, i);
    CLEANUP_FREE char *size = vk_xasprintf("%llu", (unsigned long long)vsizes[i]);
    /* -u: qemu-img does not open the chain; the appliance's QEMU will. */
    char *argv[] = { (char *)QEMU_IMG, "create", "-q", "-f", "qcow2", "-u", "-b", top,
                     "-F", "qcow2", ovl, size, NULL };
    if (vk_run(argv) < 0)
      return -1;
  }
  return 0;
}

/* ---- the appliance ---- */

/* A configured handle with every drive added, or NULL (reported). */
static guestfs_h *
appliance_handle(struct vk_files *f, bool tcg)
{
  guestfs_h *g = guestfs_create_flags(0);
  if (!g) {
    vk_error(VK_EXIT_FAILURE, "cannot create a libguestfs handle: %s", strerror(errno));
    return NULL;
  }
  guestfs_set_error_handler(g, NULL, NULL);
  CLEANUP_FREE char *tmpdir = vk_xasprintf("%s/%s", f->base, f->tmp.name);
  char *tcg_settings[] = { (char *)"force_tcg", NULL };
  int r = guestfs_set_tmpdir(g, tmpdir);
  if (r == 0)
    r = guestfs_set_autosync(g, 0);
  if (r == 0 && tcg)
    r = guestfs_set_backend_settings(g, tcg_settings);
  for (size_t i = 0; r == 0 && i < f->ndrives; i++) {
    CLEANUP_FREE char *ovl = vk_xasprintf("%s/disk-%zu.qcow2", tmpdir, i);
    r = guestfs_add_drive_opts(g, ovl, GUESTFS_ADD_DRIVE_OPTS_FORMAT, "qcow2",
                               GUESTFS_ADD_DRIVE_OPTS_READONLY, 1, -1);
  }
  if (r < 0) {
    CLEANUP_FREE char *m = vk_printable_text(guestfs_last_error(g));
    vk_error(VK_EXIT_FAILURE, "libguestfs: %s", m);
    guestfs_close(g);
    return NULL;
  }
  return g;
}

/* How long the appliance may take to start under KVM before vckpt gives
 * up on KVM: it starts in a few seconds where KVM works, and where KVM is
 * nested badly QEMU either fails at once or hangs in the kernel's boot.
 */
#define KVM_LAUNCH_LIMIT 20
/* The record, in vckpt's run directory (until the next boot), that KVM
 * cannot start the appliance here: later runs go straight to TCG.
 */
#define NO_KVM_RECORD "files-no-kvm"

/* Whether to try KVM: /dev/kvm usable, TCG not asked for
 * (LIBGUESTFS_BACKEND_SETTINGS), KVM not found wanting since boot.
 */
static bool
kvm_worth_trying(void)
{
  const char *env = getenv("LIBGUESTFS_BACKEND_SETTINGS");
  if ((env && strstr(env, "force_tcg")) || access("/dev/kvm", R_OK | W_OK) != 0)
    return false;
  CLEANUP_FREE char *path = vk_xasprintf("%s/%s", vk_run_dir(), NO_KVM_RECORD);
  struct stat st;
  if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid()) {
    vk_debug("%s: KVM did not start the appliance before: TCG", path);
    return false;
  }
  return true;
}

/* Record that KVM cannot start the appliance (WHY); failures only warn. */
static void
kvm_record_failure(const char *why)
{
  const char *dir = vk_run_dir();
  CLEANUP_CLOSE int dfd = vk_dir_open_private(dir, "run directory", 0700);
  CLEANUP_FREE char *path = vk_xasprintf("%s/%s", dir, NO_KVM_RECORD);
  CLEANUP_FREE char *text = vk_xasprintf("the libguestfs appliance did not start under KVM: "
                                         "%s\n", why);
  if (dfd >= 0)
    (void)vk_write_atomic(dfd, NO_KVM_RECORD, path, text, true);
}

/* Start the appliance: with KVM (libguestfs's default) first, under a
 * time limit, then, when that fails or hangs (QEMU cannot run the
 * appliance under KVM on some machines), once more with TCG.
 */
static int
appliance_launch(struct vk_files *f)
{
  double t0 = now_seconds();
  CLEANUP_FREE char *first = NULL;
  for (int tcg = kvm_worth_trying() ? 0 : 1; tcg < 2; tcg++) {
    f->g = appliance_handle(f, tcg);
    if (!f->g)
      return -1;
    phase_limit(f, tcg ? 0 : KVM_LAUNCH_LIMIT);
    int rc = guestfs_launch(f->g);
    bool expired = phase_limit(f, 0);
    if (rc == 0) {
      vk_debug("appliance started in %.1f s%s", now_seconds() - t0, tcg ? " (TCG)" : " (KVM)");
      /* KVM is found wanting only where TCG then works. */
      if (first)
        kvm_record_failure(first);
      return 0;
    }
    if (f->killed) {
      g_fail(f, "starting the appliance");
      return -1;
    }
    const char *msg = guestfs_last_error(f->g);
    if (!tcg) {
      first = expired ? vk_xasprintf("it did not start within %d s", KVM_LAUNCH_LIMIT)
                      : vk_printable_text(msg ? msg : "unknown error");
      vk_debug("the appliance did not start under KVM (%s): trying again with TCG", first);
    } else {
      /* Its first line: the rest is libguestfs's advice on debugging. */
      CLEANUP_FREE char *line = vk_xstrdup(msg ? msg : "unknown error");
      line[strcspn(line, "\n")] = '\0';
      CLEANUP_FREE char *m = vk_printable_text(line);
      vk_error(VK_EXIT_PREFLIGHT, "the libguestfs appliance cannot start on this machine: "
               "%s%s%s%s; run libguestfs-test-tool to see why", m, first ? " (with KVM: " : "",
               first ? first : "", first ? ")" : "");
    }
    guestfs_close(f->g);
    f->g = NULL;
  }
  return -1;
}

/* The name vckpt shows for device DEV of view V: a drive's partition as
 * its disk target and number (/dev/sdb2: vdb2), a whole drive as its
 * target, a logical volume as VG-LV, anything else by its last names with
 * '-' for '/'.  NULL: not one of this view's.
 */
static char *
fs_name(struct vk_files *f, const struct view *v, const char *dev)
{
  if (strncmp(dev, "/dev/", 5) != 0 || strchr(dev, ':'))
    return NULL;
  const char *p = dev + 5;
  if (strncmp(p, "sd", 2) == 0 || strncmp(p, "vd", 2) == 0) {
    const char *q = p + 2;
    size_t idx = 0, letters = 0;
    while (*q >= 'a' && *q <= 'z') {
      idx = idx * 26 + (size_t)(*q - 'a' + 1);
      q++;
      letters++;
    }
    if (letters > 0 && letters <= 3 && strspn(q, "0123456789") == strlen(q)) {
      idx--;
      if (idx < v->first_drive || idx >= v->first_drive + v->b->nr_disks)
        return NULL;
      return vk_xasprintf("%s%s", f->targets[idx], q);
    }
  }
  /* Logical volumes and RAID devices span drives: with two backups in the
   * appliance (a diff), whose they are cannot be told (and LVM sees the
   * same volume group twice); they are left out.
   */
  if (f->nviews > 1)
    return NULL;
  char *name = vk_xstrdup(p);
  for (char *c = name; *c; c++)
    if (*c == '/')
      *c = '-';
  return name;
}

/* List the file systems of view V (once). */
static int
list_fs(struct vk_files *f, struct view *v)
{
  if (v->listed)
    return 0;
  char **l = guestfs_list_filesystems(f->g);
  if (!l) {
    g_fail(f, "listing the file systems");
    return -1;
  }
  for (size_t i = 0; l[i] && l[i + 1]; i += 2) {
    const char *dev = l[i], *type = l[i + 1];
    if (strcmp(type, "swap") == 0 || strcmp(type, "unknown") == 0)
      continue;
    char *name = fs_name(f, v, dev);
    if (!name)
      continue;
    v->fs = vk_xrealloc(v->fs, (v->nfs + 1) * sizeof *v->fs);
    v->fs[v->nfs++] = (struct fsys) { .name = name, .dev = vk_xstrdup(dev),
                                      .type = vk_xstrdup(type) };
  }
  for (size_t i = 0; l[i]; i++)
    free(l[i]);
  free(l);
  v->listed = true;
  return 0;
}

/* Mount DEV read-only at MP.  With two backups in the appliance an xfs
 * is there twice with one UUID, which xfs refuses: nouuid.
 */
static int
mount_dev_ro(struct vk_files *f, const char *dev, const char *type, const char *mp)
{
  CLEANUP_FREE char *vfs = NULL;
  if (f->nviews > 1 && !type)
    type = vfs = guestfs_vfs_type(f->g, dev);
  if (f->nviews > 1 && type && strcmp(type, "xfs") == 0)
    return guestfs_mount_options(f->g, "ro,nouuid", dev, mp);
  return guestfs_mount_ro(f->g, dev, mp);
}

/* Mount file system FS of view V read-only at PREFIX/NAME (once). */
static int
mount_fs(struct vk_files *f, struct view *v, struct fsys *fs)
{
  if (fs->mounted)
    return 0;
  CLEANUP_FREE char *mp = vk_xasprintf("%s/%s", v->prefix, fs->name);
  if (guestfs_mkmountpoint(f->g, mp) < 0) {
    g_fail(f, "file system %s: making its mount point", fs->name);
    return -1;
  }
  if (mount_dev_ro(f, fs->dev, fs->type, mp) < 0) {
    CLEANUP_FREE char *n = vk_escape_name(fs->name);
    g_fail(f, "file system %s (%s) cannot be mounted; it may be damaged or of a kind the "
           "appliance does not read", n, fs->type);
    return -1;
  }
  fs->mounted = true;
  return 0;
}

/* qsort: guest mount points, shortest first (parents before children). */
static int
by_length(const void *a, const void *b)
{
  const char *const *x = a, *const *y = b;
  size_t lx = strlen(x[0]), ly = strlen(y[0]);
  return lx < ly ? -1 : lx > ly ? 1 : strcmp(x[0], y[0]);
}

/* --os: inspect view V's guest and mount its file systems where the guest
 * mounts them, under V's prefix.
 */
static int
mount_os(struct vk_files *f, struct view *v)
{
  char **roots = guestfs_inspect_os(f->g);
  if (!roots) {
    g_fail(f, "inspecting the guest");
    return -1;
  }
  char *root = NULL;
  size_t nroots = 0;
  for (size_t i = 0; roots[i]; i++) {
    CLEANUP_FREE char *name = fs_name(f, v, roots[i]);
    if (name && !root)
      root = vk_xstrdup(roots[i]);
    nroots += name != NULL;
  }
  for (size_t i = 0; roots[i]; i++)
    free(roots[i]);
  free(roots);
  if (!root) {
    vk_error(VK_EXIT_NOT_FOUND, "backup %s: no operating system found on its disks (list "
             "its file systems without --os)", v->b->id);
    return -1;
  }
  if (nroots > 1)
    vk_warn("backup %s holds %zu operating systems: showing the one on %s", v->b->id, nroots,
            root);
  char **mps = guestfs_inspect_get_mountpoints(f->g, root);
  free(root);
  if (!mps) {
    g_fail(f, "inspecting the guest's mount points");
    return -1;
  }
  size_t n = 0;
  while (mps[n] && mps[n + 1])
    n += 2;
  qsort(mps, n / 2, 2 * sizeof *mps, by_length);
  int r = 0;
  if (*v->prefix && guestfs_mkmountpoint(f->g, v->prefix) < 0) {
    g_fail(f, "making a mount point");
    r = -1;
  }
  for (size_t i = 0; r == 0 && i < n; i += 2) {
    CLEANUP_FREE char *mp = vk_xasprintf("%s%s", v->prefix, strcmp(mps[i], "/") ? mps[i] :
                                         *v->prefix ? "" : "/");
    if (strcmp(mps[i], "/") != 0 && guestfs_is_dir(f->g, mp) <= 0 &&
        guestfs_mkmountpoint(f->g, mp) < 0) {
      CLEANUP_FREE char *m = vk_escape_name(mps[i]);
      vk_warn("%s: no directory to mount the guest's file system on: left out", m);
      continue;
    }
    if (mount_dev_ro(f, mps[i + 1], NULL, mp) < 0) {
      CLEANUP_FREE char *m = vk_escape_name(mps[i]);
      if (strcmp(mps[i], "/") == 0) {
        g_fail(f, "the guest's root file system cannot be mounted");
        r = -1;
      } else
        vk_warn("the guest's %s cannot be mounted: left out", m);
    }
  }
  for (size_t i = 0; mps[i]; i++)
    free(mps[i]);
  free(mps);
  return r;
}

/* ---- open and close ---- */

/* Stage REQ's restic copy in the private directory: *DIR gets the
 * repository to read.
 */
static int
stage_copy(struct vk_files *f, const struct vk_files_request *req, char **dir)
{
  if (make_private(f) < 0)
    return -1;
  *dir = vk_xasprintf("%s/%s/copy", f->base, f->tmp.name);
  if (mkdirat(f->tmp.fd, "copy", 0700) < 0) {
    vk_error(VK_EXIT_FAILURE, "cannot create %s: %s", *dir, strerror(errno));
    return -1;
  }
  CLEANUP_CLOSE int fd = openat(f->tmp.fd, "copy",
                                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", *dir, strerror(errno));
    return -1;
  }
  const char *ats[2] = { req->at, req->at2 };
  return vk_restic_stage(req->restic, *dir, fd, f->tmp.fd, ats, req->at2 ? 2 : req->at ? 1 : 0,
                         &f->snap);
}

/* vk_files_open's work; F is closed by the caller on failure. */
static int
files_open(struct vk_files *f, const struct vk_files_request *req)
{
  CLEANUP_FREE char *staged = NULL;
  if (req->restic && stage_copy(f, req, &staged) < 0)
    return -1;
  if (vk_repo_open_shared(staged ? staged : req->repo_dir, req->domain, &f->repo) < 0)
    return -1;
  const char *ats[2] = { req->at, req->at2 };
  f->nviews = req->at2 ? 2 : 1;
  for (size_t i = 0; i < f->nviews; i++) {
    if (vk_repo_find_point(f->repo, ats[i], &f->view[i].b) < 0)
      return -1;
    f->view[i].first_drive = f->ndrives;
    /* A mount shows the appliance's tree: the file systems at its top. */
    f->view[i].prefix = req->mount ? vk_xstrdup("") : vk_xasprintf("/b%zu", i + 1);
    f->ndrives += f->view[i].b->nr_disks;
  }
  f->targets = vk_xcalloc(f->ndrives + 1, sizeof *f->targets);
  CLEANUP_FREE uint64_t *vsizes = vk_xcalloc(f->ndrives + 1, sizeof *vsizes);
  for (size_t i = 0; i < f->nviews; i++) {
    const struct vk_backup *b = f->view[i].b;
    for (size_t j = 0; j < b->nr_disks; j++) {
      size_t drive = f->view[i].first_drive + j;
      f->targets[drive] = vk_xstrdup(b->disks[j].target);
      if (collect_disk(f, b, &b->disks[j], drive, &vsizes[drive]) < 0)
        return -1;
    }
  }
  if (check_sums(f) < 0 || make_links(f, vsizes) < 0)
    return -1;
  if (vk_stop_signal) {
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: nothing was started",
             (int)vk_stop_signal);
    return -1;
  }
  if (watchdog_start(f) < 0 || appliance_launch(f) < 0)
    return -1;
  for (size_t i = 0; i < f->nviews; i++) {
    if (!f->os && *f->view[i].prefix && guestfs_mkmountpoint(f->g, f->view[i].prefix) < 0) {
      g_fail(f, "making a mount point");
      return -1;
    }
    if (f->os && mount_os(f, &f->view[i]) < 0)
      return -1;
  }
  return 0;
}

int
vk_files_open(const struct vk_files_request *req, struct vk_files **out)
{
  struct vk_files *f = vk_xcalloc(1, sizeof *f);
  f->basefd = -1;
  f->tmp.fd = -1;
  pthread_mutex_init(&f->phase_lock, NULL);
  f->os = req->os;
  f->timeout = req->timeout ? req->timeout : VK_FILES_TIMEOUT;
  vk_stop_catch_begin();
  f->catching = true;
  *out = NULL;
  if (files_open(f, req) < 0) {
    vk_files_close(f);
    return -1;
  }
  *out = f;
  return 0;
}

void
vk_files_close(struct vk_files *f)
{
  if (!f)
    return;
  if (f->g)
    guestfs_close(f->g);   /* ends QEMU and waits for it */
  watchdog_stop(f);
  vk_private_tmp_remove(&f->tmp);
  if (f->basefd >= 0)
    close(f->basefd);
  free(f->base);
  for (size_t i = 0; i < f->nfiles; i++) {
    close(f->files[i].fd);
    free(f->files[i].link);
  }
  free(f->files);
  for (size_t i = 0; i < f->nviews; i++) {
    for (size_t j = 0; j < f->view[i].nfs; j++) {
      free(f->view[i].fs[j].name);
      free(f->view[i].fs[j].dev);
      free(f->view[i].fs[j].type);
    }
    free(f->view[i].fs);
    free(f->view[i].prefix);
  }
  vk_strv_free(f->targets);
  free(f->serve_mp);
  vk_restic_snapshot_clear(&f->snap);
  if (f->repo)
    vk_repo_close(f->repo);
  if (f->catching)
    vk_stop_catch_end();
  pthread_mutex_destroy(&f->phase_lock);
  free(f);
}

const char *
vk_files_backup_id(const struct vk_files *f)
{
  return f && f->nviews > 0 ? f->view[0].b->id : NULL;
}

const char *
vk_files_backup_id2(const struct vk_files *f)
{
  return f && f->nviews > 1 ? f->view[1].b->id : NULL;
}

const char *
vk_files_snapshot_id(const struct vk_files *f)
{
  return f ? f->snap.id : NULL;
}

/* ---- paths ---- */

/* A path of a view resolved for the appliance. */
struct place {
  char *apath;             /* the appliance's path; no link on the way but the last */
  char *shown;             /* the path as the user sees it (for messages) */
  char *name;              /* its last name; NULL: the top level (no file system named) */
  struct guestfs_statns *st;   /* lstat of it (not for the top level) */
};

static void
place_clear(struct place *p)
{
  free(p->apath);
  free(p->shown);
  free(p->name);
  if (p->st)
    guestfs_free_statns(p->st);
  memset(p, 0, sizeof *p);
}

/* Split PATH's names onto the front of *Q (N of them). */
static void
push_names(char ***q, size_t *n, const char *path)
{
  char **names = NULL;
  size_t k = 0;
  CLEANUP_FREE char *copy = vk_xstrdup(path);
  char *save = NULL;
  for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
    names = vk_xrealloc(names, (k + 1) * sizeof *names);
    names[k++] = vk_xstrdup(t);
  }
  *q = vk_xrealloc(*q, (*n + k + 1) * sizeof **q);
  memmove(*q + k, *q, *n * sizeof **q);
  memcpy(*q, names, k * sizeof *names);
  *n += k;
  free(names);
}

/* Join the first N names of V onto ROOT. */
static char *
join_names(const char *root, char *const *v, size_t n)
{
  char *r = vk_xstrdup(root);
  for (size_t i = 0; i < n; i++) {
    char *more = vk_xasprintf("%s/%s", r, v[i]);
    free(r);
    r = more;
  }
  return r;
}

/* Resolve PATH of view V: without --os its first name is a file system
 * (mounted now), with it the guest's root.  Symbolic links on the way are
 * read and followed inside that root (an absolute one starts again from
 * it; ".." never goes above it), never by the appliance; the last name is
 * not followed.  0 with *P, or -1 (reported; a missing path is NOT_FOUND),
 * or with F->probe 1 when the path is not there (not reported).
 */
static int
resolve(struct vk_files *f, struct view *v, const char *path, struct place *p)
{
  memset(p, 0, sizeof *p);
  if (path[0] != '/') {
    vk_error(VK_EXIT_USAGE, "%s: give an absolute path (a file system first, as 'vckpt files "
             "ls' shows them, or the guest's path with --os)", path);
    return -1;
  }
  char **q = NULL;
  size_t nq = 0;
  push_names(&q, &nq, path);
  char *root = NULL, *top = NULL;
  size_t qi = 0;
  int r = 0;
  if (!f->os) {
    /* The first name, "." and ".." aside, is the file system. */
    while (qi < nq && (strcmp(q[qi], ".") == 0 || strcmp(q[qi], "..") == 0))
      free(q[qi++]);
    if (qi == nq) {
      p->apath = vk_xstrdup(v->prefix);
      p->shown = vk_xstrdup("/");
    } else if (list_fs(f, v) < 0)
      r = -1;
    else {
      struct fsys *fs = NULL;
      for (size_t i = 0; i < v->nfs && !fs; i++)
        if (strcmp(v->fs[i].name, q[qi]) == 0)
          fs = &v->fs[i];
      if (!fs && f->probe)
        r = 1;
      else if (!fs) {
        CLEANUP_FREE char *n = vk_escape_name(q[qi]);
        vk_error(VK_EXIT_NOT_FOUND, "backup %s has no file system '%s' (see 'vckpt files "
                 "ls' of /)", v->b->id, n);
        r = -1;
      } else if (mount_fs(f, v, fs) < 0)
        r = -1;
      else {
        root = vk_xasprintf("%s/%s", v->prefix, fs->name);
        top = vk_xasprintf("/%s", fs->name);
        free(q[qi++]);
      }
    }
  } else {
    root = vk_xstrdup(v->prefix);
    top = vk_xstrdup("");
  }
  char **stack = NULL;
  size_t ns = 0, hops = 0;
  while (r == 0 && root && qi < nq) {
    char *name = q[qi++];
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
      if (strcmp(name, "..") == 0 && ns > 0)
        free(stack[--ns]);
      free(name);
      continue;
    }
    stack = vk_xrealloc(stack, (ns + 1) * sizeof *stack);
    stack[ns++] = name;
    bool last = qi == nq;
    CLEANUP_FREE char *cur = join_names(root, stack, ns);
    struct guestfs_statns *st = guestfs_lstatns(f->g, cur);
    if (!st) {
      CLEANUP_FREE char *shown = join_names(top, stack, ns);
      CLEANUP_FREE char *n = vk_escape_name(*shown ? shown : "/");
      bool missing = guestfs_last_errno(f->g) == ENOENT && !f->killed;
      r = -1;
      if (missing && f->probe)
        r = 1;
      else if (missing)
        vk_error(VK_EXIT_NOT_FOUND, "%s: no such file or directory in backup %s", n, v->b->id);
      else
        g_fail(f, "%s", n);
      break;
    }
    bool link = (st->st_mode & S_IFMT) == S_IFLNK, dir = (st->st_mode & S_IFMT) == S_IFDIR;
    if (last && !link)
      p->st = st;
    else
      guestfs_free_statns(st);
    if (last && link) {
      /* The last name is not followed: but keep its stat. */
      p->st = guestfs_lstatns(f->g, cur);
      if (!p->st) {
        g_fail(f, "lstat");
        r = -1;
      }
      break;
    }
    if (link) {
      char *target = guestfs_readlink(f->g, cur);
      if (!target || ++hops > MAX_LINK_HOPS || !*target) {
        CLEANUP_FREE char *n = vk_escape_name(cur + strlen(root));
        if (target)
          vk_error(VK_EXIT_NOT_FOUND, "%s: too many symbolic links, or an empty one", n);
        else
          g_fail(f, "reading the link %s", n);
        free(target);
        r = -1;
        break;
      }
      free(stack[--ns]);
      if (target[0] == '/')
        while (ns > 0)
          free(stack[--ns]);
      /* The rest of the queue after the link's names. */
      char **rest = q + qi;
      size_t nrest = nq - qi;
      char **nq_v = NULL;
      size_t nn = 0;
      for (size_t i = 0; i < nrest; i++) {
        nq_v = vk_xrealloc(nq_v, (nn + 1) * sizeof *nq_v);
        nq_v[nn++] = rest[i];
      }
      push_names(&nq_v, &nn, target);
      free(target);
      free(q);
      q = nq_v;
      nq = nn;
      qi = 0;
      continue;
    }
    if (!last && !dir && f->probe)
      r = 1;
    else if (!last && !dir) {
      CLEANUP_FREE char *shown = join_names(top, stack, ns);
      CLEANUP_FREE char *n = vk_escape_name(shown);
      vk_error(VK_EXIT_NOT_FOUND, "%s: not a directory", n);
      r = -1;
    }
  }
  if (r == 0 && root) {
    p->apath = join_names(root, stack, ns);
    p->shown = join_names(top, stack, ns);
    if (!*p->shown) {
      free(p->shown);
      p->shown = vk_xstrdup("/");
    }
    p->name = ns ? vk_xstrdup(stack[ns - 1])
                 : f->os ? NULL : vk_xstrdup(top + 1);
    if (!p->st && !(p->st = guestfs_lstatns(f->g, p->apath))) {
      g_fail(f, "lstat %s", p->shown);
      r = -1;
    }
  }
  for (size_t i = 0; i < ns; i++)
    free(stack[i]);
  free(stack);
  for (size_t i = qi; i < nq; i++)
    free(q[i]);
  free(q);
  free(root);
  free(top);
  if (r != 0)
    place_clear(p);
  return r;
}

/* ---- ls ---- */

static char
type_char(int64_t mode)
{
  switch (mode & S_IFMT) {
  case S_IFREG: return '-';
  case S_IFDIR: return 'd';
  case S_IFLNK: return 'l';
  case S_IFCHR: return 'c';
  case S_IFBLK: return 'b';
  case S_IFIFO: return 'p';
  case S_IFSOCK: return 's';
  default: return '?';
  }
}

static void
entry_from_stat(struct vk_file_entry *e, const char *name, const struct guestfs_statns *st)
{
  *e = (struct vk_file_entry) {
    .name = vk_xstrdup(name), .type = type_char(st->st_mode),
    .mode = (uint32_t)(st->st_mode & 07777), .size = (uint64_t)st->st_size,
    .uid = (uint64_t)st->st_uid, .gid = (uint64_t)st->st_gid,
    .nlink = (uint64_t)st->st_nlink, .mtime = st->st_mtime_sec,
    .mtime_ns = st->st_mtime_nsec,
  };
}

static int
by_entry_name(const void *a, const void *b)
{
  const struct vk_file_entry *x = a, *y = b;
  return strcmp(x->name, y->name);
}

/* How many names one lstatnslist or readlinklist call takes. */
#define BATCH 1000

/* The entries of directory APATH (SHOWN in messages). */
static int
list_dir(struct vk_files *f, const char *apath, const char *shown,
         struct vk_file_entry **out, size_t *n)
{
  struct guestfs_dirent_list *dl = guestfs_readdir(f->g, apath);
  if (!dl) {
    CLEANUP_FREE char *s = vk_escape_name(shown);
    g_fail(f, "reading directory %s", s);
    return -1;
  }
  char **names = vk_xcalloc(dl->len + 1, sizeof *names);
  size_t k = 0;
  for (uint32_t i = 0; i < dl->len; i++)
    if (strcmp(dl->val[i].name, ".") != 0 && strcmp(dl->val[i].name, "..") != 0)
      names[k++] = vk_xstrdup(dl->val[i].name);
  guestfs_free_dirent_list(dl);
  struct vk_file_entry *e = vk_xcalloc(k + 1, sizeof *e);
  int r = 0;
  size_t done = 0;
  for (size_t i = 0; r == 0 && i < k; i += BATCH) {
    size_t m = k - i < BATCH ? k - i : BATCH;
    char *save = names[i + m];
    names[i + m] = NULL;
    struct guestfs_statns_list *sl = guestfs_lstatnslist(f->g, apath, names + i);
    char **links = sl ? guestfs_readlinklist(f->g, apath, names + i) : NULL;
    names[i + m] = save;
    if (!sl || !links || sl->len != m) {
      CLEANUP_FREE char *s = vk_escape_name(shown);
      g_fail(f, "reading directory %s", s);
      r = -1;
    }
    for (size_t j = 0; r == 0 && j < m; j++) {
      entry_from_stat(&e[done], names[i + j], &sl->val[j]);
      /* A name lstat could not read comes back with st_ino -1. */
      if (sl->val[j].st_ino == -1)
        e[done].type = '?';
      if (e[done].type == 'l' && links[j] && *links[j])
        e[done].target = vk_xstrdup(links[j]);
      done++;
    }
    if (sl)
      guestfs_free_statns_list(sl);
    for (size_t j = 0; links && links[j]; j++)
      free(links[j]);
    free(links);
  }
  for (size_t i = 0; i < k; i++)
    free(names[i]);
  free(names);
  if (r < 0) {
    vk_file_entries_free(e, done);
    return -1;
  }
  qsort(e, done, sizeof *e, by_entry_name);
  *out = e;
  *n = done;
  return 0;
}

int
vk_files_ls(struct vk_files *f, const char *path, struct vk_file_entry **out, size_t *n)
{
  struct view *v = &f->view[0];
  struct place p;
  *out = NULL;
  *n = 0;
  if (resolve(f, v, path, &p) < 0)
    return -1;
  int r = 0;
  if (!p.st) {
    /* The top level: the file systems. */
    if (list_fs(f, v) < 0)
      r = -1;
    struct vk_file_entry *e = vk_xcalloc(v->nfs + 1, sizeof *e);
    for (size_t i = 0; r == 0 && i < v->nfs; i++)
      e[i] = (struct vk_file_entry) { .name = vk_xstrdup(v->fs[i].name), .type = 'd',
                                      .mode = 0555, .fstype = vk_xstrdup(v->fs[i].type) };
    *out = e;
    *n = r == 0 ? v->nfs : 0;
    if (r == 0)
      qsort(e, *n, sizeof *e, by_entry_name);
  } else if ((p.st->st_mode & S_IFMT) == S_IFDIR)
    r = list_dir(f, p.apath, p.shown, out, n);
  else {
    *out = vk_xcalloc(1, sizeof **out);
    entry_from_stat(*out, p.name ? p.name : p.shown, p.st);
    if ((*out)->type == 'l') {
      (*out)->target = guestfs_readlink(f->g, p.apath);
      if (!(*out)->target) {
        g_fail(f, "reading the link");
        r = -1;
      }
    }
    *n = 1;
  }
  place_clear(&p);
  if (r < 0) {
    vk_file_entries_free(*out, *n);
    *out = NULL;
    *n = 0;
  }
  return r;
}

/* ---- streams from the appliance ---- */

/* A libguestfs call that writes a local file (tar_out, download, find0),
 * run in a thread into a pipe the caller reads: nothing the appliance
 * sends is ever put at a path by libguestfs or a host tar.
 */
enum stream_kind { STREAM_TAR, STREAM_FILE, STREAM_FIND };
struct stream {
  guestfs_h *g;
  enum stream_kind kind;
  const char *apath;
  int wfd;
  int rc;
  char *err;
  pthread_t thread;
};

static void *
stream_main(void *arg)
{
  struct stream *s = arg;
  char dev[64];
  /* libguestfs's error handler is per thread: errors come back as values. */
  guestfs_set_error_handler(s->g, NULL, NULL);
  snprintf(dev, sizeof dev, "/dev/fd/%d", s->wfd);
  switch (s->kind) {
  case STREAM_TAR:
    s->rc = guestfs_tar_out_opts(s->g, s->apath, dev, GUESTFS_TAR_OUT_OPTS_NUMERICOWNER, 1, -1);
    break;
  case STREAM_FILE:
    s->rc = guestfs_download(s->g, s->apath, dev);
    break;
  case STREAM_FIND:
    s->rc = guestfs_find0(s->g, s->apath, dev);
    break;
  }
  /* libguestfs's last error belongs to the thread that made the call. */
  if (s->rc < 0) {
    const char *m = guestfs_last_error(s->g);
    s->err = strdup(m ? m : "unknown error");
  }
  close(s->wfd);
  return NULL;
}

/* Start stream KIND of APATH: the descriptor to read, or -1 (reported). */
static int
stream_start(struct vk_files *f, struct stream *s, enum stream_kind kind, const char *apath)
{
  int p[2];
  *s = (struct stream) { .g = f->g, .kind = kind, .apath = apath, .wfd = -1 };
  if (pipe2(p, O_CLOEXEC) < 0) {
    vk_error(VK_EXIT_FAILURE, "pipe: %s", strerror(errno));
    return -1;
  }
  s->wfd = p[1];
  /* The thread takes no signal: a SIGPIPE becomes EPIPE, a stop signal
   * the main thread's.
   */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  int e = pthread_create(&s->thread, NULL, stream_main, s);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (e != 0) {
    close(p[0]);
    close(p[1]);
    vk_error(VK_EXIT_FAILURE, "cannot start a thread: %s", strerror(e));
    return -1;
  }
  return p[0];
}

/* Read what is left of stream FD (after a failure on this side). */
static void
stream_drain(int fd)
{
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    ;
}

/* Drain and close FD, wait for the call; 0 when it succeeded, else -1
 * (reported as the failure of WHAT unless QUIET: this side failed first).
 */
static int
stream_end(struct vk_files *f, struct stream *s, int fd, bool quiet, const char *what)
{
  stream_drain(fd);
  close(fd);
  pthread_join(s->thread, NULL);
  int r = s->rc < 0 ? -1 : 0;
  if (r < 0 && !quiet) {
    CLEANUP_FREE char *w = vk_escape_name(what);
    CLEANUP_FREE char *m = vk_xasprintf("%s; the file system may be damaged, nothing was "
                                        "written", s->err ? s->err : "unknown error");
    g_fail_msg(f, m, "%s", w);
  }
  free(s->err);
  s->err = NULL;
  return r;
}

/* Read exactly N bytes: 0, 1 at an early end of the stream, -1 (errno). */
static int
read_exact(int fd, void *buf, size_t n)
{
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return -1;
    if (r == 0)
      return 1;
    got += (size_t)r;
  }
  return 0;
}

/* ---- writing a copied tree: never through a link, never outside ---- */

/* A relative name from the archive made safe, or NULL: "./a/b/" gives
 * "a/b", "." or "./" gives "" (the top); empty names, "." and "..", too
 * deep or too long are refused.
 */
static char *
clean_name(const char *raw)
{
  if (strncmp(raw, "./", 2) == 0)
    raw += 2;
  else if (strcmp(raw, ".") == 0)
    raw += 1;
  size_t len = strlen(raw);
  while (len > 0 && raw[len - 1] == '/')
    len--;
  if (len > TREE_MAX_PATH)
    return NULL;
  char *r = vk_xmalloc(len + 1);
  memcpy(r, raw, len);
  r[len] = '\0';
  size_t depth = 0;
  for (char *c = r; *r; ) {
    char *slash = strchr(c, '/');
    size_t n = slash ? (size_t)(slash - c) : strlen(c);
    if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.') ||
        ++depth > TREE_MAX_DEPTH) {
      free(r);
      return NULL;
    }
    if (!slash)
      break;
    c = slash + 1;
  }
  return r;
}

/* A directory copied, whose mode and times are set once its contents are
 * written.
 */
struct dir_attr {
  char *rel;
  uint32_t mode;
  int64_t mtime, mtime_ns;
  uint64_t uid, gid;
};

struct extract {
  int rootfd;              /* the copy's top directory */
  const char *shown;       /* its path in the backup, for messages */
  bool owner;
  struct vk_files_got *got;
  char **names;            /* every entry of the archive (relative names) */
  size_t nnames;
  size_t specials;         /* device nodes, FIFOs: listed, not written */
  struct dir_attr *dirs;
  size_t ndirs;
  bool dropped;            /* the test fault files-tar-drop was done */
  char *cache_rel;         /* the parent directory opened last */
  int cache_fd;
};

/* Open directory REL under ROOTFD, walking one name at a time without
 * following a link: a descriptor, or -1 (errno).
 */
static int
open_dir_at(int rootfd, const char *rel)
{
  int fd = dup(rootfd);
  CLEANUP_FREE char *copy = vk_xstrdup(rel);
  char *save = NULL;
  for (char *t = strtok_r(copy, "/", &save); fd >= 0 && t; t = strtok_r(NULL, "/", &save)) {
    int next = openat(fd, t, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int e = errno;
    close(fd);
    fd = next;
    errno = e;
  }
  return fd;
}

/* The directory holding REL (cached: an archive lists a directory's
 * entries together) and REL's last name in *BASE.
 */
static int
parent_of(struct extract *x, const char *rel, const char **base)
{
  const char *slash = strrchr(rel, '/');
  *base = slash ? slash + 1 : rel;
  size_t n = slash ? (size_t)(slash - rel) : 0;
  if (x->cache_rel && strlen(x->cache_rel) == n && strncmp(x->cache_rel, rel, n) == 0)
    return x->cache_fd;
  if (x->cache_rel) {
    close(x->cache_fd);
    free(x->cache_rel);
    x->cache_rel = NULL;
  }
  CLEANUP_FREE char *parent = vk_xmalloc(n + 1);
  memcpy(parent, rel, n);
  parent[n] = '\0';
  int fd = open_dir_at(x->rootfd, parent);
  if (fd < 0)
    return -1;
  x->cache_rel = vk_xstrdup(parent);
  x->cache_fd = fd;
  return fd;
}

/* The mode a copy gets: without --owner, a file keeps only its owner's
 * bits and a directory is 0700.
 */
static mode_t
copy_mode(bool owner, bool dir, uint32_t mode)
{
  if (owner)
    return mode & 07777;
  return dir ? 0700 : mode & 0700;
}

/* Owner, mode and times of the copy FD (or of link BASE in DIRFD). */
static int
set_attrs(int fd, int dirfd, const char *base, bool owner, bool dir, uint32_t mode,
          uint64_t uid, uint64_t gid, int64_t mtime, int64_t mtime_ns)
{
  struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = mtime, .tv_nsec = mtime_ns } };
  if (fd < 0)   /* a symbolic link */
    return (owner && fchownat(dirfd, base, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW) < 0) ||
           utimensat(dirfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0 ? -1 : 0;
  if (owner && fchown(fd, (uid_t)uid, (gid_t)gid) < 0)
    return -1;
  return fchmod(fd, copy_mode(owner, dir, mode)) < 0 || futimens(fd, ts) < 0 ? -1 : 0;
}

/* Copy N bytes from stream FD to file OUT (-1: skip them); 0, 1 (early
 * end of the stream), -1 (a read error, errno) or -2 (a write error).
 */
static int
copy_bytes(int fd, int out, uint64_t n)
{
  char buf[65536];
  while (n > 0) {
    size_t k = n < sizeof buf ? (size_t)n : sizeof buf;
    int rc = read_exact(fd, buf, k);
    if (rc != 0)
      return rc;
    for (size_t w = 0; out >= 0 && w < k; ) {
      ssize_t r = write(out, buf + w, k - w);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return -2;
      w += (size_t)r;
    }
    n -= k;
  }
  return 0;
}

/* A number field of a tar header: octal, or base-256 (GNU). */
static bool
tar_num(const unsigned char *p, size_t n, uint64_t *out)
{
  uint64_t v = 0;
  if (p[0] & 0x80) {
    if (p[0] != 0x80)
      return false;   /* negative, or too big */
    for (size_t i = 1; i < n; i++) {
      if (v >> 55)
        return false;
      v = (v << 8) | p[i];
    }
    *out = v;
    return true;
  }
  size_t i = 0;
  while (i < n && p[i] == ' ')
    i++;
  bool any = false;
  for (; i < n && p[i] >= '0' && p[i] <= '7'; i++) {
    if (v >> 60)
      return false;
    v = v * 8 + (p[i] - '0');
    any = true;
  }
  if (i < n && p[i] != ' ' && p[i] != '\0')
    return false;
  *out = v;
  return any || i == n || p[i] == '\0' || p[i] == ' ';
}

/* A string field: up to N bytes, NUL-terminated unless full. */
static char *
tar_str(const unsigned char *p, size_t n)
{
  size_t len = strnlen((const char *)p, n);
  char *r = vk_xmalloc(len + 1);
  memcpy(r, p, len);
  r[len] = '\0';
  return r;
}

/* What an extended (pax) header sets. */
struct pax {
  char *path, *linkpath;
  bool has_size, has_mtime;
  uint64_t size;
  int64_t mtime, mtime_ns;
};

static void
pax_clear(struct pax *x)
{
  free(x->path);
  free(x->linkpath);
  memset(x, 0, sizeof *x);
}

/* Parse a pax header's records "LEN KEY=VALUE\n": 0, or -1 (malformed). */
static int
pax_parse(char *buf, size_t len, struct pax *x)
{
  size_t i = 0;
  while (i < len) {
    char *end;
    errno = 0;
    unsigned long n = strtoul(buf + i, &end, 10);
    if (errno || end == buf + i || *end != ' ' || n == 0 || n > len - i || buf[i + n - 1] != '\n')
      return -1;
    char *kv = end + 1, *eq = memchr(kv, '=', (size_t)(buf + i + n - 1 - kv));
    if (!eq)
      return -1;
    *eq = '\0';
    buf[i + n - 1] = '\0';
    const char *val = eq + 1;
    if (strcmp(kv, "path") == 0) {
      free(x->path);
      x->path = vk_xstrdup(val);
    } else if (strcmp(kv, "linkpath") == 0) {
      free(x->linkpath);
      x->linkpath = vk_xstrdup(val);
    } else if (strcmp(kv, "size") == 0) {
      x->size = strtoull(val, NULL, 10);
      x->has_size = true;
    } else if (strcmp(kv, "mtime") == 0) {
      char *frac = NULL;
      x->mtime = strtoll(val, &frac, 10);
      x->mtime_ns = 0;
      if (frac && *frac == '.') {
        long ns = 0, scale = 100000000;
        for (const char *c = frac + 1; *c >= '0' && *c <= '9' && scale > 0; c++, scale /= 10)
          ns += (*c - '0') * scale;
        x->mtime_ns = ns;
      }
      x->has_mtime = true;
    }
    i += n;
  }
  return 0;
}

/* Read a header's data (at most MAX bytes) whole, padding included. */
static int
read_payload(int fd, uint64_t size, size_t max, char **out)
{
  if (size > max)
    return -1;
  uint64_t padded = (size + 511) / 512 * 512;
  char *buf = vk_xmalloc((size_t)padded + 1);
  if (read_exact(fd, buf, (size_t)padded) != 0) {
    free(buf);
    return -1;
  }
  buf[size] = '\0';
  *out = buf;
  return 0;
}

/* Extract the archive on FD into X->rootfd: 0, or -1 (reported). */
static int
extract_tar(struct extract *x, int fd)
{
  struct pax pax = { 0 };
  char *longname = NULL, *longlink = NULL;
  int r = 0;
  CLEANUP_FREE char *shown = vk_escape_name(x->shown);
  for (;;) {
    unsigned char h[512];
    int rc = read_exact(fd, h, sizeof h);
    if (rc != 0) {
      vk_error(VK_EXIT_FAILURE, "%s: the appliance's archive ended early", shown);
      r = -1;
      break;
    }
    bool zero = true;
    for (size_t i = 0; i < sizeof h && zero; i++)
      zero = h[i] == 0;
    if (zero)
      break;
    uint64_t sum = 0, want = 0;
    for (size_t i = 0; i < sizeof h; i++)
      sum += i >= 148 && i < 156 ? ' ' : h[i];
    uint64_t size = 0, mode = 0, uid = 0, gid = 0, mtime = 0;
    if (!tar_num(h + 148, 8, &want) || want != sum || !tar_num(h + 124, 12, &size) ||
        !tar_num(h + 100, 8, &mode) || !tar_num(h + 108, 8, &uid) ||
        !tar_num(h + 116, 8, &gid) || !tar_num(h + 136, 12, &mtime)) {
      vk_error(VK_EXIT_FAILURE, "%s: the appliance's archive has a damaged header", shown);
      r = -1;
      break;
    }
    char type = (char)h[156];
    if (type == 'L' || type == 'K' || type == 'x' || type == 'g') {
      char *data = NULL;
      if (read_payload(fd, size, 1 << 20, &data) < 0) {
        vk_error(VK_EXIT_FAILURE, "%s: the appliance's archive has a damaged long name", shown);
        r = -1;
        break;
      }
      if (type == 'L') {
        free(longname);
        longname = data;
      } else if (type == 'K') {
        free(longlink);
        longlink = data;
      } else if (type == 'x' && pax_parse(data, (size_t)size, &pax) < 0) {
        free(data);
        vk_error(VK_EXIT_FAILURE, "%s: the appliance's archive has a damaged pax header",
                 shown);
        r = -1;
        break;
      } else
        free(data);
      continue;
    }
    if (pax.has_size)
      size = pax.size;
    int64_t mt = pax.has_mtime ? pax.mtime : (int64_t)mtime, mt_ns = pax.mtime_ns;
    bool posix = memcmp(h + 257, "ustar\0", 6) == 0;
    CLEANUP_FREE char *raw = NULL;
    if (pax.path)
      raw = vk_xstrdup(pax.path);
    else if (longname)
      raw = vk_xstrdup(longname);
    else if (posix && h[345]) {
      CLEANUP_FREE char *pre = tar_str(h + 345, 155), *nm = tar_str(h, 100);
      raw = vk_xasprintf("%s/%s", pre, nm);
    } else
      raw = tar_str(h, 100);
    CLEANUP_FREE char *link = pax.linkpath ? vk_xstrdup(pax.linkpath)
                            : longlink ? vk_xstrdup(longlink) : tar_str(h + 157, 100);
    pax_clear(&pax);
    free(longname);
    free(longlink);
    longname = longlink = NULL;
    CLEANUP_FREE char *rel = clean_name(raw);
    if (!rel) {
      CLEANUP_FREE char *n = vk_escape_name(raw);
      vk_error(VK_EXIT_FAILURE, "%s: the appliance's archive names '%s': refused", shown, n);
      r = -1;
      break;
    }
    if (!*rel && type != '5') {
      vk_error(VK_EXIT_FAILURE, "%s: the appliance's archive has a file as its top", shown);
      r = -1;
      break;
    }
    if (!*rel) {
      /* The top itself: made by the caller; its attributes are the
       * caller's too.
       */
      if (copy_bytes(fd, -1, (size + 511) / 512 * 512) != 0) {
        r = -1;
        break;
      }
      continue;
    }
    /* A test (VCKPT_TEST_HOOK=files-tar-drop:fault): the archive lacks
     * its first regular file, as a damaged file system's may with no
     * error anywhere; the appliance's own tar reports what it cannot
     * read, so only this makes the listing and the archive disagree.
     */
    if ((type == '0' || type == '\0') && !x->dropped && vk_test_fault("files-tar-drop")) {
      x->dropped = true;
      if (copy_bytes(fd, -1, (size + 511) / 512 * 512) != 0) {
        vk_error(VK_EXIT_FAILURE, "%s: the appliance's archive ended early", shown);
        r = -1;
        break;
      }
      continue;
    }
    const char *base;
    int dirfd = parent_of(x, rel, &base);
    CLEANUP_FREE char *rel_shown = vk_escape_name(rel);
    if (dirfd < 0) {
      vk_error(VK_EXIT_FAILURE, "%s/%s: its directory cannot be opened in the copy: %s", shown,
               rel_shown, strerror(errno));
      r = -1;
      break;
    }
    uint64_t skip = (size + 511) / 512 * 512;
    int e = 0;
    switch (type) {
    case '0': case '\0': case '7': {
      int out = openat(dirfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (out < 0) {
        e = errno;
        break;
      }
      int crc = copy_bytes(fd, out, size);
      if (crc == -2)
        e = errno;
      else if (crc != 0)
        e = EPIPE;
      else if (set_attrs(out, dirfd, base, x->owner, false, (uint32_t)mode, uid, gid, mt,
                         mt_ns) < 0)
        e = errno;
      close(out);
      skip -= size;
      x->got->files++;
      x->got->bytes += size;
      break;
    }
    case '5':
      if (mkdirat(dirfd, base, 0700) < 0) {
        e = errno;
        break;
      }
      x->dirs = vk_xrealloc(x->dirs, (x->ndirs + 1) * sizeof *x->dirs);
      x->dirs[x->ndirs++] = (struct dir_attr) { .rel = vk_xstrdup(rel), .mode = (uint32_t)mode,
                                                .mtime = mt, .mtime_ns = mt_ns,
                                                .uid = uid, .gid = gid };
      x->got->dirs++;
      break;
    case '2':
      if (symlinkat(link, dirfd, base) < 0 ||
          set_attrs(-1, dirfd, base, x->owner, false, 0, uid, gid, mt, mt_ns) < 0)
        e = errno;
      x->got->links++;
      break;
    case '1': {
      /* A hard link to an entry copied before, reached without following
       * any link.
       */
      CLEANUP_FREE char *trel = clean_name(link);
      const char *tslash = trel ? strrchr(trel, '/') : NULL;
      CLEANUP_FREE char *tdir = trel ? vk_xstrdup(trel) : NULL;
      if (tdir)
        tdir[tslash ? (size_t)(tslash - trel) : 0] = '\0';
      int tfd = trel && *trel ? open_dir_at(x->rootfd, tdir) : -1;
      if (tfd < 0)
        e = trel && *trel ? errno : EINVAL;
      else {
        if (linkat(tfd, tslash ? tslash + 1 : trel, dirfd, base, 0) < 0)
          e = errno;
        close(tfd);
      }
      x->got->files++;
      break;
    }
    case '3': case '4': case '6':
      x->specials++;
      break;
    default:
      vk_error(VK_EXIT_FAILURE, "%s/%s: the appliance's archive has an entry of type '%c': "
               "refused", shown, rel_shown, type >= 0x20 && type < 0x7f ? type : '?');
      r = -1;
      break;
    }
    if (r < 0)
      break;
    if (e) {
      vk_error(VK_EXIT_FAILURE, "%s/%s: %s", shown, rel_shown,
               e == EPIPE ? "the appliance's archive ended early" : strerror(e));
      r = -1;
      break;
    }
    if (skip && copy_bytes(fd, -1, skip) != 0) {
      vk_error(VK_EXIT_FAILURE, "%s: the appliance's archive ended early", shown);
      r = -1;
      break;
    }
    x->names = vk_xrealloc(x->names, (x->nnames + 1) * sizeof *x->names);
    x->names[x->nnames++] = vk_xstrdup(rel);
  }
  pax_clear(&pax);
  free(longname);
  free(longlink);
  return r;
}

/* Set the copied directories' modes and times, deepest last written first. */
static int
apply_dirs(struct extract *x, const char *shown)
{
  for (size_t i = x->ndirs; i-- > 0; ) {
    const struct dir_attr *d = &x->dirs[i];
    int fd = open_dir_at(x->rootfd, d->rel);
    if (fd < 0 || set_attrs(fd, -1, NULL, x->owner, true, d->mode, d->uid, d->gid, d->mtime,
                            d->mtime_ns) < 0) {
      CLEANUP_FREE char *s = vk_escape_name(shown), *n = vk_escape_name(d->rel);
      vk_error(VK_EXIT_FAILURE, "%s/%s: %s", s, n, strerror(errno));
      if (fd >= 0)
        close(fd);
      return -1;
    }
    close(fd);
  }
  return 0;
}

static void
extract_clear(struct extract *x)
{
  for (size_t i = 0; i < x->nnames; i++)
    free(x->names[i]);
  free(x->names);
  for (size_t i = 0; i < x->ndirs; i++)
    free(x->dirs[i].rel);
  free(x->dirs);
  if (x->cache_rel) {
    close(x->cache_fd);
    free(x->cache_rel);
  }
  if (x->rootfd >= 0)
    close(x->rootfd);
}

static int
by_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names under APATH as the appliance lists them (find0): *NAMES
 * (sorted) and *N.  The buffer *BUF holds them.
 */
static int
list_tree(struct vk_files *f, const char *apath, const char *shown, char **buf, char ***names,
          size_t *n)
{
  struct stream s;
  int fd = stream_start(f, &s, STREAM_FIND, apath);
  if (fd < 0)
    return -1;
  size_t len = 0, cap = 65536;
  char *b = vk_xmalloc(cap);
  bool too_big = false;
  for (;;) {
    if (len == cap) {
      if (cap >= ((size_t)1 << 30)) {
        too_big = true;
        break;
      }
      cap *= 2;
      b = vk_xrealloc(b, cap);
    }
    ssize_t r = read(fd, b + len, cap - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    len += (size_t)r;
  }
  CLEANUP_FREE char *what = vk_xasprintf("listing %s", shown);
  if (stream_end(f, &s, fd, too_big, what) < 0 || too_big) {
    if (too_big) {
      CLEANUP_FREE char *sh = vk_escape_name(shown);
      vk_error(VK_EXIT_FAILURE, "%s: its listing is larger than 1 GiB: copy parts of it", sh);
    }
    free(b);
    return -1;
  }
  size_t k = 0;
  for (size_t i = 0; i < len; i++)
    k += b[i] == '\0';
  char **v = vk_xcalloc(k + 1, sizeof *v);
  size_t m = 0;
  for (size_t i = 0; i < len; ) {
    char *start = b + i, *end = memchr(start, '\0', len - i);
    if (!end)
      break;   /* no NUL after the last name: not a whole name */
    /* find0 strips the directory's path: "/a/b" for DIR/a/b. */
    v[m++] = *start == '/' ? start + 1 : start;
    i = (size_t)(end - b) + 1;
  }
  qsort(v, m, sizeof *v, by_str);
  *buf = b;
  *names = v;
  *n = m;
  return 0;
}

/* Copy the tree at place P into directory NAME of STAGEFD: listed, then
 * streamed as an archive and extracted name by name, then compared.
 */
static int
get_tree(struct vk_files *f, const struct place *p, int stagefd, bool owner,
         struct vk_files_got *got)
{
  CLEANUP_FREE char *shown = vk_escape_name(p->shown);
  CLEANUP_FREE char *listbuf = NULL;
  CLEANUP_FREE char **listed = NULL;
  size_t nlisted = 0;
  if (list_tree(f, p->apath, p->shown, &listbuf, &listed, &nlisted) < 0)
    return -1;
  if (mkdirat(stagefd, p->name, 0700) < 0) {
    CLEANUP_FREE char *n = vk_escape_name(p->name);
    vk_error(VK_EXIT_FAILURE, "%s: %s", n, errno == EEXIST ? "named twice" : strerror(errno));
    return -1;
  }
  struct extract x = { .rootfd = -1, .shown = p->shown, .owner = owner, .got = got };
  x.rootfd = openat(stagefd, p->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (x.rootfd < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", shown, strerror(errno));
    return -1;
  }
  struct stream s;
  int fd = stream_start(f, &s, STREAM_TAR, p->apath);
  if (fd < 0) {
    extract_clear(&x);
    return -1;
  }
  int r = extract_tar(&x, fd);
  CLEANUP_FREE char *what = vk_xasprintf("copying %s", p->shown);
  if (stream_end(f, &s, fd, r < 0, what) < 0)
    r = -1;
  /* What was listed against what was written: a damaged file system may
   * list names the archive then lacks, with no error anywhere.
   */
  size_t missing = 0, extra = 0, sockets = 0;
  CLEANUP_FREE char *first = NULL;
  if (r == 0) {
    qsort(x.names, x.nnames, sizeof *x.names, by_str);
    size_t i = 0, j = 0;
    while (i < nlisted || j < x.nnames) {
      int c = i == nlisted ? 1 : j == x.nnames ? -1 : strcmp(listed[i], x.names[j]);
      if (c == 0) {
        i++;
        j++;
        continue;
      }
      if (c > 0) {
        extra++;
        if (!first)
          first = vk_escape_name(x.names[j]);
        j++;
        continue;
      }
      /* Listed, not in the archive: tar leaves sockets out. */
      CLEANUP_FREE char *ap = vk_xasprintf("%s/%s", p->apath, listed[i]);
      struct guestfs_statns *st = guestfs_lstatns(f->g, ap);
      if (st && (st->st_mode & S_IFMT) == S_IFSOCK)
        sockets++;
      else {
        missing++;
        if (!first)
          first = vk_escape_name(listed[i]);
      }
      if (st)
        guestfs_free_statns(st);
      i++;
    }
  }
  got->listed += nlisted + 1;
  got->written += x.nnames - x.specials + 1;
  got->skipped += x.specials + sockets;
  if (r == 0 && (missing || extra)) {
    if (missing)
      vk_error(VK_EXIT_FAILURE, "%s: %zu of the %zu entries the appliance listed were not "
               "copied (the first: %s): the file system is damaged; nothing was written",
               shown, missing, nlisted, first);
    else
      vk_error(VK_EXIT_FAILURE, "%s: the copy has %zu entries the appliance did not list "
               "(the first: %s); nothing was written", shown, extra, first);
    r = -1;
  }
  if (r == 0)
    r = apply_dirs(&x, p->shown);
  if (r == 0 &&
      set_attrs(x.rootfd, -1, NULL, owner, true, p->st->st_mode & 07777, p->st->st_uid,
                p->st->st_gid, p->st->st_mtime_sec, p->st->st_mtime_nsec) < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", shown, strerror(errno));
    r = -1;
  }
  extract_clear(&x);
  return r;
}

/* Copy the regular file at place P into NAME of STAGEFD, checking its size. */
static int
get_file(struct vk_files *f, const struct place *p, int stagefd, bool owner,
         struct vk_files_got *got)
{
  CLEANUP_FREE char *shown = vk_escape_name(p->shown);
  CLEANUP_CLOSE int out = openat(stagefd, p->name,
                                 O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", shown, errno == EEXIST ? "named twice" : strerror(errno));
    return -1;
  }
  struct stream s;
  int fd = stream_start(f, &s, STREAM_FILE, p->apath);
  if (fd < 0)
    return -1;
  uint64_t n = 0;
  int werr = 0;
  char buf[65536];
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    for (ssize_t w = 0; !werr && w < r; ) {
      ssize_t k = write(out, buf + w, (size_t)(r - w));
      if (k < 0 && errno != EINTR)
        werr = errno;
      w += k > 0 ? k : 0;
    }
    if (werr)
      break;
    n += (uint64_t)r;
  }
  CLEANUP_FREE char *what = vk_xasprintf("copying %s", p->shown);
  if (stream_end(f, &s, fd, werr != 0, what) < 0) {
    if (werr)
      vk_error(VK_EXIT_FAILURE, "%s: write: %s", shown, strerror(werr));
    return -1;
  }
  got->listed++;
  if (n != (uint64_t)p->st->st_size) {
    vk_error(VK_EXIT_FAILURE, "%s: %llu bytes copied, the file holds %lld: the file system is "
             "damaged; nothing was written", shown, (unsigned long long)n,
             (long long)p->st->st_size);
    return -1;
  }
  if (set_attrs(out, stagefd, p->name, owner, false, p->st->st_mode & 07777, p->st->st_uid,
                p->st->st_gid, p->st->st_mtime_sec, p->st->st_mtime_nsec) < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", shown, strerror(errno));
    return -1;
  }
  got->written++;
  got->files++;
  got->bytes += n;
  return 0;
}

/* Copy one PATH into STAGEFD. */
static int
get_one(struct vk_files *f, const char *path, int stagefd, bool owner, struct vk_files_got *got)
{
  struct place p;
  if (resolve(f, &f->view[0], path, &p) < 0)
    return -1;
  CLEANUP_FREE char *shown = vk_escape_name(p.shown);
  int r = 0;
  if (!p.st || !p.name) {
    vk_error(VK_EXIT_USAGE, "%s: name a file system (vckpt files ls DOMAIN /) or a path in one",
             shown);
    r = -1;
  } else if ((p.st->st_mode & S_IFMT) == S_IFDIR)
    r = get_tree(f, &p, stagefd, owner, got);
  else if ((p.st->st_mode & S_IFMT) == S_IFREG)
    r = get_file(f, &p, stagefd, owner, got);
  else if ((p.st->st_mode & S_IFMT) == S_IFLNK) {
    char *target = guestfs_readlink(f->g, p.apath);
    got->listed++;
    if (!target) {
      g_fail(f, "reading the link %s", shown);
      r = -1;
    } else if (symlinkat(target, stagefd, p.name) < 0 ||
               set_attrs(-1, stagefd, p.name, owner, false, 0, p.st->st_uid, p.st->st_gid,
                         p.st->st_mtime_sec, p.st->st_mtime_nsec) < 0) {
      vk_error(VK_EXIT_FAILURE, "%s: %s", shown, errno == EEXIST ? "named twice" : strerror(errno));
      r = -1;
    } else {
      got->written++;
      got->links++;
    }
    free(target);
  } else {
    vk_warn("%s: a device node, FIFO or socket: not copied", shown);
    got->listed++;
    got->skipped++;
  }
  place_clear(&p);
  return r;
}

int
vk_files_get(struct vk_files *f, char *const *paths, const char *to, bool owner,
             struct vk_files_got *got)
{
  memset(got, 0, sizeof *got);
  CLEANUP_FREE char *abs = NULL;
  CLEANUP_CLOSE int tofd = vk_dir_open_trusted(to, "--to", false, &abs);
  if (tofd < 0)
    return -1;
  struct vk_private_tmp stage;
  if (vk_private_tmp_make(&stage, tofd, abs, GET_PREFIX, 0700, "vckpt files get") < 0)
    return -1;
  int r = 0;
  for (size_t i = 0; r == 0 && paths[i]; i++)
    r = get_one(f, paths[i], stage.fd, owner, got);
  if (r == 0 && got->listed != got->written + got->skipped) {
    vk_error(VK_EXIT_FAILURE, "%zu entries listed, %zu written and %zu skipped: nothing was "
             "written", got->listed, got->written, got->skipped);
    r = -1;
  }
  if (r == 0 && syncfs(stage.fd) < 0)
    vk_warn("%s: syncfs: %s", abs, strerror(errno));
  /* Into place, never replacing anything; on failure the ones moved go
   * back, to be removed with the staging directory.
   */
  CLEANUP_FREE char **moved = vk_xcalloc(vk_strv_len(paths) + 1, sizeof *moved);
  size_t nmoved = 0;
  DIR *d = r == 0 ? fdopendir(dup(stage.fd)) : NULL;
  struct dirent *e;
  while (d && (e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    if (renameat2(stage.fd, e->d_name, tofd, e->d_name, RENAME_NOREPLACE) < 0) {
      CLEANUP_FREE char *n = vk_escape_name(e->d_name);
      vk_error(VK_EXIT_FAILURE, "%s/%s: %s", abs, n,
               errno == EEXIST ? "already exists: vckpt files get never replaces anything"
                               : strerror(errno));
      r = -1;
      break;
    }
    moved[nmoved++] = vk_xstrdup(e->d_name);
  }
  if (d)
    closedir(d);
  for (size_t i = 0; i < nmoved; i++) {
    if (r < 0)
      renameat2(tofd, moved[i], stage.fd, moved[i], RENAME_NOREPLACE);
    free(moved[i]);
  }
  vk_private_tmp_remove(&stage);
  if (r == 0 && fsync(tofd) < 0)
    vk_warn("%s: fsync: %s", abs, strerror(errno));
  return r;
}

/* ---- diff ---- */

struct diff {
  struct vk_files *f;
  bool checksum;
  struct vk_file_change *c;
  size_t n;
};

static void
diff_add(struct diff *d, char what, unsigned fields, const char *path)
{
  d->c = vk_xrealloc(d->c, (d->n + 1) * sizeof *d->c);
  d->c[d->n++] = (struct vk_file_change) { .path = vk_xstrdup(path), .what = what,
                                           .fields = fields };
}

/* NAME under SHOWN, as the user names it. */
static char *
child_path(const char *shown, const char *name)
{
  return vk_xasprintf("%s/%s", strcmp(shown, "/") ? shown : "", name);
}

/* Too deep to compare: reported. */
static int
diff_too_deep(const char *shown)
{
  CLEANUP_FREE char *s = vk_escape_name(shown);
  vk_error(VK_EXIT_FAILURE, "%s: deeper than %d directories: compare parts of it", s,
           TREE_MAX_DEPTH);
  return -1;
}

/* Everything under directory APATH (SHOWN) was added or removed
 * (WHAT): listed.
 */
static int
diff_all(struct diff *d, const char *apath, const char *shown, char what, int depth)
{
  if (depth > TREE_MAX_DEPTH)
    return diff_too_deep(shown);
  struct vk_file_entry *e = NULL;
  size_t n = 0;
  if (list_dir(d->f, apath, shown, &e, &n) < 0)
    return -1;
  int r = 0;
  for (size_t i = 0; r == 0 && i < n; i++) {
    CLEANUP_FREE char *cs = child_path(shown, e[i].name);
    diff_add(d, what, 0, cs);
    if (e[i].type == 'd') {
      CLEANUP_FREE char *ca = vk_xasprintf("%s/%s", apath, e[i].name);
      r = diff_all(d, ca, cs, what, depth + 1);
    }
  }
  vk_file_entries_free(e, n);
  return r;
}

/* What differs between entries A (at APATH_A) and B (at APATH_B). */
static int
diff_fields(struct diff *d, const struct vk_file_entry *a, const char *apath_a,
            const struct vk_file_entry *b, const char *apath_b, const char *shown,
            unsigned *fields)
{
  unsigned x = 0;
  if (a->type == '?' || b->type == '?')
    x |= VK_CHANGE_UNREADABLE;
  else if (a->type != b->type)
    x |= VK_CHANGE_TYPE;
  else {
    bool dir = a->type == 'd';
    if (a->mode != b->mode)
      x |= VK_CHANGE_MODE;
    if (a->uid != b->uid || a->gid != b->gid)
      x |= VK_CHANGE_OWNER;
    /* A directory's size and time follow its entries, compared one by one. */
    if (!dir && a->size != b->size)
      x |= VK_CHANGE_SIZE;
    if (!dir && (a->mtime != b->mtime || a->mtime_ns != b->mtime_ns))
      x |= VK_CHANGE_MTIME;
    if (a->type == 'l' && strcmp(a->target ? a->target : "", b->target ? b->target : ""))
      x |= VK_CHANGE_TARGET;
    if (x == 0 && a->type == '-' && d->checksum) {
      char *sa = guestfs_checksum(d->f->g, "sha256", apath_a);
      char *sb = sa ? guestfs_checksum(d->f->g, "sha256", apath_b) : NULL;
      if (!sa || !sb) {
        CLEANUP_FREE char *s = vk_escape_name(shown);
        g_fail(d->f, "reading %s", s);
        free(sa);
        free(sb);
        return -1;
      }
      if (strcmp(sa, sb) != 0)
        x |= VK_CHANGE_CONTENTS;
      free(sa);
      free(sb);
    }
  }
  *fields = x;
  return 0;
}

static int diff_dirs(struct diff *d, const char *apath_a, const char *apath_b,
                     const char *shown, int depth);

/* Entries A and B of one name, at APATH_A and APATH_B (SHOWN): compared,
 * and below them.
 */
static int
diff_entry(struct diff *d, const struct vk_file_entry *a, const char *apath_a,
           const struct vk_file_entry *b, const char *apath_b, const char *shown, int depth)
{
  unsigned fields = 0;
  if (diff_fields(d, a, apath_a, b, apath_b, shown, &fields) < 0)
    return -1;
  if (fields)
    diff_add(d, 'M', fields, shown);
  if (fields & (VK_CHANGE_TYPE | VK_CHANGE_UNREADABLE)) {
    if (a->type == 'd' && diff_all(d, apath_a, shown, 'D', depth + 1) < 0)
      return -1;
    if (b->type == 'd' && diff_all(d, apath_b, shown, 'A', depth + 1) < 0)
      return -1;
    return 0;
  }
  if (a->type == 'd')
    return diff_dirs(d, apath_a, apath_b, shown, depth + 1);
  return 0;
}

/* Directories APATH_A (first backup) and APATH_B (second), SHOWN. */
static int
diff_dirs(struct diff *d, const char *apath_a, const char *apath_b, const char *shown,
          int depth)
{
  if (depth > TREE_MAX_DEPTH)
    return diff_too_deep(shown);
  struct vk_file_entry *ea = NULL, *eb = NULL;
  size_t na = 0, nb = 0;
  if (list_dir(d->f, apath_a, shown, &ea, &na) < 0)
    return -1;
  if (list_dir(d->f, apath_b, shown, &eb, &nb) < 0) {
    vk_file_entries_free(ea, na);
    return -1;
  }
  int r = 0;
  size_t i = 0, j = 0;
  while (r == 0 && (i < na || j < nb)) {
    int c = i == na ? 1 : j == nb ? -1 : strcmp(ea[i].name, eb[j].name);
    const struct vk_file_entry *e = c <= 0 ? &ea[i] : &eb[j];
    CLEANUP_FREE char *cs = child_path(shown, e->name);
    CLEANUP_FREE char *ca = c <= 0 ? vk_xasprintf("%s/%s", apath_a, e->name) : NULL;
    CLEANUP_FREE char *cb = c >= 0 ? vk_xasprintf("%s/%s", apath_b, e->name) : NULL;
    if (c == 0)
      r = diff_entry(d, &ea[i], ca, &eb[j], cb, cs, depth);
    else {
      diff_add(d, c < 0 ? 'D' : 'A', 0, cs);
      if (e->type == 'd')
        r = diff_all(d, c < 0 ? ca : cb, cs, c < 0 ? 'D' : 'A', depth + 1);
    }
    i += c <= 0;
    j += c >= 0;
  }
  vk_file_entries_free(ea, na);
  vk_file_entries_free(eb, nb);
  return r;
}

/* The entry at place P, as a listing has it. */
static int
place_entry(struct vk_files *f, const struct place *p, struct vk_file_entry *e)
{
  entry_from_stat(e, p->name ? p->name : p->shown, p->st);
  if (e->type == 'l' && !(e->target = guestfs_readlink(f->g, p->apath))) {
    CLEANUP_FREE char *s = vk_escape_name(p->shown);
    g_fail(f, "reading the link %s", s);
    return -1;
  }
  return 0;
}

static int
by_fs_name(const void *a, const void *b)
{
  const struct fsys *const *x = a, *const *y = b;
  return strcmp((*x)->name, (*y)->name);
}

/* The file systems of both backups (the top level without --os). */
static int
diff_top(struct diff *d)
{
  struct vk_files *f = d->f;
  struct view *va = &f->view[0], *vb = &f->view[1];
  if (list_fs(f, va) < 0 || list_fs(f, vb) < 0)
    return -1;
  /* Both lists sorted by name (pointers: the lists themselves stay). */
  CLEANUP_FREE struct fsys **fa = vk_xcalloc(va->nfs + 1, sizeof *fa);
  CLEANUP_FREE struct fsys **fb = vk_xcalloc(vb->nfs + 1, sizeof *fb);
  for (size_t i = 0; i < va->nfs; i++)
    fa[i] = &va->fs[i];
  for (size_t i = 0; i < vb->nfs; i++)
    fb[i] = &vb->fs[i];
  qsort(fa, va->nfs, sizeof *fa, by_fs_name);
  qsort(fb, vb->nfs, sizeof *fb, by_fs_name);
  int r = 0;
  size_t i = 0, j = 0;
  while (r == 0 && (i < va->nfs || j < vb->nfs)) {
    int c = i == va->nfs ? 1 : j == vb->nfs ? -1 : strcmp(fa[i]->name, fb[j]->name);
    struct view *v = c <= 0 ? va : vb;
    struct fsys *fs = c <= 0 ? fa[i] : fb[j];
    CLEANUP_FREE char *cs = vk_xasprintf("/%s", fs->name);
    CLEANUP_FREE char *ca = vk_xasprintf("%s/%s", va->prefix, fs->name);
    CLEANUP_FREE char *cb = vk_xasprintf("%s/%s", vb->prefix, fs->name);
    if (mount_fs(f, v, fs) < 0 || (c == 0 && mount_fs(f, vb, fb[j]) < 0))
      r = -1;
    else if (c == 0)
      r = diff_dirs(d, ca, cb, cs, 1);
    else {
      diff_add(d, c < 0 ? 'D' : 'A', 0, cs);
      r = diff_all(d, c < 0 ? ca : cb, cs, c < 0 ? 'D' : 'A', 1);
    }
    i += c <= 0;
    j += c >= 0;
  }
  return r;
}

int
vk_files_diff(struct vk_files *f, const char *path, bool checksum,
              struct vk_file_change **out, size_t *n)
{
  *out = NULL;
  *n = 0;
  if (f->nviews != 2) {
    vk_error(VK_EXIT_FAILURE, "files diff: two backups are needed");
    return -1;
  }
  struct diff d = { .f = f, .checksum = checksum };
  struct place pa, pb;
  f->probe = true;
  int ra = resolve(f, &f->view[0], path, &pa);
  int rb = ra < 0 ? -1 : resolve(f, &f->view[1], path, &pb);
  f->probe = false;
  if (ra < 0 || rb < 0) {
    if (ra == 0)
      place_clear(&pa);
    return -1;
  }
  int r = 0;
  if (ra > 0 && rb > 0) {
    CLEANUP_FREE char *s = vk_escape_name(path);
    vk_error(VK_EXIT_NOT_FOUND, "%s: in neither backup %s nor %s", s, f->view[0].b->id,
             f->view[1].b->id);
    r = -1;
  } else if (ra == 0 && rb == 0 && !pa.st && !pb.st)
    r = diff_top(&d);
  else if (ra == 0 && rb == 0) {
    struct vk_file_entry ea = { 0 }, eb = { 0 };
    r = place_entry(f, &pa, &ea) < 0 || place_entry(f, &pb, &eb) < 0 ? -1 : 0;
    if (r == 0)
      r = diff_entry(&d, &ea, pa.apath, &eb, pb.apath, pa.shown, 0);
    free(ea.name);
    free(ea.target);
    free(eb.name);
    free(eb.target);
  } else {
    /* In one backup only: it and everything under it. */
    struct place *p = ra == 0 ? &pa : &pb;
    char what = ra == 0 ? 'D' : 'A';
    diff_add(&d, what, 0, p->shown);
    if ((p->st->st_mode & S_IFMT) == S_IFDIR)
      r = diff_all(&d, p->apath, p->shown, what, 1);
  }
  if (ra == 0)
    place_clear(&pa);
  if (rb == 0)
    place_clear(&pb);
  if (r < 0) {
    vk_file_changes_free(d.c, d.n);
    return -1;
  }
  *out = d.c;
  *n = d.n;
  return 0;
}

/* ---- mount ---- */

int
vk_files_serve(struct vk_files *f, const char *mountpoint, int ready_fd)
{
  struct view *v = &f->view[0];
  CLEANUP_FREE char *shown = vk_escape_name(mountpoint);
  if (!f->os) {
    if (list_fs(f, v) < 0)
      return -1;
    for (size_t i = 0; i < v->nfs; i++) {
      struct fsys *fs = &v->fs[i];
      CLEANUP_FREE char *mp = vk_xasprintf("/%s", fs->name);
      if (guestfs_mkmountpoint(f->g, mp) == 0 && mount_dev_ro(f, fs->dev, fs->type, mp) == 0) {
        fs->mounted = true;
        continue;
      }
      if (f->killed) {
        g_fail(f, "mounting the file systems");
        return -1;
      }
      const char *err = guestfs_last_error(f->g);
      CLEANUP_FREE char *n = vk_escape_name(fs->name);
      CLEANUP_FREE char *m = vk_printable_text(err ? err : "unknown error");
      vk_warn("file system %s (%s) cannot be mounted, it is left out: %s", n, fs->type, m);
    }
  }
  CLEANUP_FREE char *opts = vk_xasprintf("ro,fsname=" MOUNT_FSNAME "%ld,subtype=" MOUNT_SUBTYPE,
                                         (long)getpid());
  if (guestfs_mount_local(f->g, mountpoint, GUESTFS_MOUNT_LOCAL_READONLY, 1,
                          GUESTFS_MOUNT_LOCAL_OPTIONS, opts, -1) < 0) {
    g_fail(f, "mounting at %s", shown);
    return -1;
  }
  /* From now on no time limit; a stop signal unmounts. */
  pthread_mutex_lock(&f->phase_lock);
  bool killed = f->killed != 0;
  if (!killed) {
    f->deadline = 0;
    f->serve_mp = vk_xstrdup(mountpoint);
  }
  pthread_mutex_unlock(&f->phase_lock);
  if (killed) {
    guestfs_umount_local(f->g, -1);
    g_fail(f, "mounting at %s", shown);
    return -1;
  }
  vk_log(LOG_INFO, "backup %s mounted at %s (process %ld)", v->b->id, shown, (long)getpid());
  if (ready_fd >= 0) {
    /* Ready: the parent returns; this process now stands alone.  Not
     * killed with the parent from before it is told (the parent ends as
     * soon as it reads this); a parent already gone is a failed write.
     */
    prctl(PR_SET_PDEATHSIG, 0);
    CLEANUP_FREE char *msg = vk_xasprintf("R%s", v->b->id);
    ssize_t w = write(ready_fd, msg, strlen(msg));
    close(ready_fd);
    if (w != (ssize_t)strlen(msg)) {
      guestfs_umount_local(f->g, -1);
      vk_error(VK_EXIT_INTERRUPTED, "files mount ended before the mount was ready: %s is "
               "unmounted", shown);
      return -1;
    }
    int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (nul >= 0) {
      dup2(nul, STDIN_FILENO);
      dup2(nul, STDOUT_FILENO);
      dup2(nul, STDERR_FILENO);
      close(nul);
    }
  }
  int r = guestfs_mount_local_run(f->g);
  if (r < 0 && !vk_stop_signal) {
    g_fail(f, "serving the mount at %s", shown);
    return -1;
  }
  vk_log(LOG_INFO, "backup %s unmounted from %s%s", v->b->id, shown,
         vk_stop_signal ? " (a stop signal)" : "");
  return 0;
}

#endif /* HAVE_LIBGUESTFS */
