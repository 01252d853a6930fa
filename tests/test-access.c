/* Unit test of lib/access.c: which directories vckpt trusts, what QEMU's
 * user can reach, files given back.  A table of directory set-ups under a
 * private temporary directory; run as root (skipped otherwise).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access.h"
#include "cleanup.h"
#include "util.h"

#define NOBODY 65534
#define QEMU 64055

static int failures;
static char top[64];

#define CHECK(cond, ...) \
  do { if (!(cond)) { failures++; fprintf(stderr, "FAIL: %s:%d: ", __func__, __LINE__); \
       fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

/* Make directory TOP/REL with MODE, owner UID and group GID. */
static void
dir(const char *rel, mode_t mode, uid_t uid, gid_t gid)
{
  CLEANUP_FREE char *p = vk_xasprintf("%s/%s", top, rel);
  if (mkdir(p, 0700) < 0 || chown(p, uid, gid) < 0 || chmod(p, mode) < 0) {
    perror(p);
    exit(99);
  }
}

/* Make link TOP/REL pointing at TARGET, owned by UID. */
static void
link_to(const char *rel, const char *target, uid_t uid)
{
  CLEANUP_FREE char *p = vk_xasprintf("%s/%s", top, rel);
  if (symlink(target, p) < 0 || lchown(p, uid, uid) < 0) {
    perror(p);
    exit(99);
  }
}

static const struct {
  const char *path;      /* relative to TOP, or absolute when it starts with '/' */
  int ok;                /* vk_dir_open_trusted accepts it */
  const char *abs;       /* its absolute path without links, relative to TOP */
} walks[] = {
  { "root", 1, "root" },
  { "root/", 1, "root" },
  { "root//sub/", 1, "root/sub" },
  { "root/./sub/../sub", 1, "root/sub" },
  { "rootlink", 1, "root/sub" },            /* root's link in a trusted directory */
  { "rootlink/../sub", 1, "root/sub" },     /* ".." of the link's target */
  { "rellink", 1, "root/sub" },             /* relative target */
  { "sticky", 0, NULL },                    /* /tmp itself: others may plant names */
  { "sticky/mine", 1, "sticky/mine" },
  { "sticky/nobodys", 0, NULL },            /* made by another user in /tmp */
  { "sticky/nobodylink", 0, NULL },         /* nobody's link in /tmp: not followed blindly */
  { "nobody", 0, NULL },
  { "nobody/rootsub", 0, NULL },            /* below another user's directory */
  { "world", 0, NULL },
  { "groupw", 0, NULL },                    /* group-writable, group nobody's */
  { "grouproot", 1, "grouproot" },          /* group-writable, group root */
  { "loop", 0, NULL },
  { "missing", 0, NULL },
  { "file", 0, NULL },
};

static void
set_up(void)
{
  dir("root", 0755, 0, 0);
  dir("root/sub", 0700, 0, 0);
  link_to("rootlink", "root/sub", 0);
  link_to("rellink", "./root/../root/sub", 0);
  dir("sticky", 01777, 0, 0);
  dir("sticky/mine", 0755, 0, 0);
  dir("sticky/nobodys", 0755, NOBODY, NOBODY);
  CLEANUP_FREE char *t = vk_xasprintf("%s/root", top);
  link_to("sticky/nobodylink", t, NOBODY);
  dir("nobody", 0755, NOBODY, NOBODY);
  dir("nobody/rootsub", 0755, 0, 0);
  dir("world", 0777, 0, 0);
  dir("groupw", 0775, 0, NOBODY);
  dir("grouproot", 0775, 0, 0);
  link_to("loop", "loop", 0);
  CLEANUP_FREE char *f = vk_xasprintf("%s/file", top);
  int fd = open(f, O_CREAT | O_WRONLY, 0600);
  if (fd < 0)
    exit(99);
  close(fd);
}

/* Remove one entry of the test's tree (nftw, depth first). */
static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st;
  (void)ftw;
  if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0)
    fprintf(stderr, "cannot remove %s: %s\n", path, strerror(errno));
  return 0;
}

static void
test_walks(void)
{
  for (size_t i = 0; i < sizeof walks / sizeof walks[0]; i++) {
    CLEANUP_FREE char *p = walks[i].path[0] == '/' ? vk_xstrdup(walks[i].path)
                                                   : vk_xasprintf("%s/%s", top, walks[i].path);
    CLEANUP_FREE char *abs = NULL;
    int fd = vk_dir_open_trusted(p, "test", false, &abs);
    CHECK((fd >= 0) == walks[i].ok, "%s: %s", walks[i].path, fd >= 0 ? "accepted" : "refused");
    if (fd >= 0 && walks[i].abs) {
      CLEANUP_FREE char *want = vk_xasprintf("%s/%s", top, walks[i].abs);
      CHECK(strcmp(abs, want) == 0, "%s: resolved to %s, not %s", walks[i].path, abs, want);
    }
    if (fd >= 0)
      close(fd);
  }
  /* A relative path, from the working directory. */
  CLEANUP_FREE char *cwd = getcwd(NULL, 0);
  CLEANUP_FREE char *root = vk_xasprintf("%s/root", top);
  CHECK(chdir(root) == 0, "chdir");
  CLEANUP_FREE char *abs = NULL;
  int fd = vk_dir_open_trusted("sub/", "test", false, &abs);
  CLEANUP_FREE char *want = vk_xasprintf("%s/root/sub", top);
  CHECK(fd >= 0 && strcmp(abs, want) == 0, "relative path: %s", abs ? abs : "refused");
  if (fd >= 0)
    close(fd);
  CHECK(chdir(cwd) == 0, "chdir back");
  CLEANUP_FREE char *sticky = vk_xasprintf("%s/sticky", top);
  fd = vk_dir_open_trusted_base(sticky, "test", NULL);
  CHECK(fd >= 0, "a sticky base directory refused");
  if (fd >= 0)
    close(fd);
  fd = vk_dir_open_trusted("/", "test", false, NULL);
  CHECK(fd >= 0, "/ refused");
  if (fd >= 0)
    close(fd);
}

static void
test_create(void)
{
  CLEANUP_FREE char *p = vk_xasprintf("%s/root/made", top);
  int fd = vk_dir_open_trusted(p, "test", true, NULL);
  struct stat st;
  CHECK(fd >= 0 && fstat(fd, &st) == 0 && (st.st_mode & 07777) == VK_DIR_MODE,
        "created directory: mode %o", fd >= 0 ? (unsigned)(st.st_mode & 07777) : 0);
  if (fd >= 0)
    close(fd);
  CLEANUP_FREE char *q = vk_xasprintf("%s/nobody/made", top);
  CHECK(vk_dir_open_trusted(q, "test", true, NULL) < 0, "created below nobody's");
  CHECK(access(q, F_OK) < 0 && errno == ENOENT, "made below nobody's directory");

  CLEANUP_FREE char *priv = vk_xasprintf("%s/root/locks/", top);
  fd = vk_dir_open_private(priv, "test", 0700);
  CHECK(fd >= 0 && fstat(fd, &st) == 0 && (st.st_mode & 07777) == 0700,
        "private directory (trailing slash)");
  if (fd >= 0)
    close(fd);
  CLEANUP_FREE char *pub = vk_xasprintf("%s/grouproot", top);
  CHECK(vk_dir_open_private(pub, "test", 0700) < 0, "a group-writable directory taken as private");
  CLEANUP_FREE char *theirs = vk_xasprintf("%s/sticky/nobodys", top);
  CHECK(vk_dir_open_private(theirs, "test", 0700) < 0, "another user's directory taken as private");
  CLEANUP_FREE char *under = vk_xasprintf("%s/nobody/locks", top);
  CHECK(vk_dir_open_private(under, "test", 0700) < 0, "private directory below nobody's");
}

static const struct {
  const char *rel;
  mode_t mode;
  uid_t uid;
  gid_t gid;
  int reachable;         /* by QEMU (uid QEMU, gid QEMU) */
} reach[] = {
  { "r-0711", 0711, 0, 0, 1 },
  { "r-0700", 0700, 0, 0, 0 },
  { "r-0750", 0750, 0, 0, 0 },
  { "r-0710q", 0710, 0, QEMU, 1 },          /* QEMU's group may search */
  { "r-0700q", 0700, QEMU, QEMU, 1 },       /* QEMU's own */
  { "r-0701", 0701, 0, 0, 1 },
  { "r-0770o", 0770, NOBODY, NOBODY, 0 },
};

static void
test_reach(void)
{
  struct vk_qemu_user qu = { .known = true, .uid = QEMU, .gid = QEMU };
  struct vk_qemu_user qroot = { .known = true, .uid = 0, .gid = 0 };
  struct vk_qemu_user unknown = { 0 };
  for (size_t i = 0; i < sizeof reach / sizeof reach[0]; i++) {
    dir(reach[i].rel, 0700, 0, 0);
    CLEANUP_FREE char *sub = vk_xasprintf("%s/%s", reach[i].rel, "in");
    dir(sub, 0711, 0, 0);
    CLEANUP_FREE char *p = vk_xasprintf("%s/%s", top, reach[i].rel);
    if (chown(p, reach[i].uid, reach[i].gid) < 0 || chmod(p, reach[i].mode) < 0)
      exit(99);
    CLEANUP_FREE char *in = vk_xasprintf("%s/in", p);
    mode_t mode;
    uid_t uid;
    CLEANUP_FREE char *b = vk_qemu_blocker(&qu, in, &mode, &uid);
    CHECK((b == NULL) == (reach[i].reachable != 0), "%s: %s", reach[i].rel, b ? b : "reachable");
    if (b)
      CHECK(strcmp(b, p) == 0 && mode == reach[i].mode, "%s: blocker %s mode %o", reach[i].rel,
            b, (unsigned)mode);
    CHECK(!vk_qemu_blocker(&qroot, in, &mode, &uid), "root QEMU blocked");
    CHECK(!vk_qemu_blocker(&unknown, in, &mode, &uid), "unknown QEMU blocked");
  }
}

static void
test_give_back(void)
{
  CLEANUP_FREE char *f = vk_xasprintf("%s/root/img", top);
  CLEANUP_CLOSE int fd = open(f, O_CREAT | O_RDWR, 0600);
  CHECK(fd >= 0 && fchown(fd, QEMU, QEMU) == 0 && fchmod(fd, 0640) == 0, "set up");
  CHECK(vk_give_back_fd(fd) == 1, "not given back");
  struct stat st;
  CHECK(fstat(fd, &st) == 0 && st.st_uid == geteuid() && st.st_gid == getegid() &&
        (st.st_mode & 07777) == 0600, "owner %u mode %o", (unsigned)st.st_uid,
        (unsigned)(st.st_mode & 07777));
  CHECK(vk_give_back_fd(fd) == 0, "given back twice");
}

int
main(void)
{
  if (geteuid() != 0) {
    fprintf(stderr, "test-access: SKIP: needs root (chown)\n");
    return 77;
  }
  snprintf(top, sizeof top, "/tmp/vckpt-access.XXXXXX");
  if (!mkdtemp(top) || chmod(top, 0755) < 0)
    return 99;
  set_up();
  test_walks();
  test_create();
  test_reach();
  test_give_back();
  nftw(top, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  if (failures)
    fprintf(stderr, "test-access: %d failures\n", failures);
  return failures ? 1 : 0;
}
