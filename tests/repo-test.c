/* vckpt - what the unit tests of the backup repository (test-repo-*.c)
 * share (repo-test.h).
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "repo.h"
#include "util.h"
#include "repo-test.h"

char *tmpdir;
char *repo;
int errors;
unsigned seed;

char *const vda_vdb[] = { (char *)"vda", (char *)"vdb", NULL };
char *const vda[] = { (char *)"vda", NULL };

/* Remove a directory tree (test scratch space only). */
void
rm_rf(const char *path)
{
  DIR *d = opendir(path);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
        continue;
      CLEANUP_FREE char *sub = vk_xasprintf("%s/%s", path, e->d_name);
      rm_rf(sub);
    }
    closedir(d);
    rmdir(path);
  } else
    unlink(path);
}

/* Whether PATH exists (a dangling symlink counts). */
bool
file_exists(const char *path)
{
  struct stat st;
  return lstat(path, &st) == 0;
}

/* Read a whole file, NULL if absent (NUL bytes allowed; *LEN is the size). */
char *
slurp(const char *path, size_t *len)
{
  FILE *f = fopen(path, "r");
  if (!f)
    return NULL;
  size_t cap = 4096, n = 0;
  char *buf = vk_xmalloc(cap + 1);
  size_t got;
  while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap)
      buf = vk_xrealloc(buf, (cap *= 2) + 1);
  }
  fclose(f);
  buf[n] = '\0';
  if (len)
    *len = n;
  return buf;
}

/* Create PATH with CONTENT; O_EXCL, as QEMU's target would be new. */
int
put(const char *path, const char *content, size_t len)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return -1;
  int rc = write(fd, content, len) == (ssize_t)len ? 0 : -1;
  close(fd);
  return rc;
}

/* Run FN(ARG) in a child, its stderr captured in *ERR; returns the child's
 * exit status: 0 if FN returned 0, else the status vk_error chose, or
 * 128+signal.
 */
int
in_child(int (*fn)(void *), void *arg, char **err)
{
  static int n;
  CLEANUP_FREE char *errfile = vk_xasprintf("%s/stderr.%d", tmpdir, n++);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || dup2(fd, 2) < 0)
      _exit(99);
    close(fd);
    if (vk_error_reported()) {
      fprintf(stderr, "test bug: an error was reported before the case\n");
      _exit(98);
    }
    int rc = fn(arg);
    fflush(stderr);
    _exit(rc == 0 ? 0 : vk_exit_status());
  }
  int status = 0;
  waitpid(pid, &status, 0);
  *err = slurp(errfile, NULL);
  if (!*err)
    *err = vk_xstrdup("");
  unlink(errfile);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Make a backup with fake disk files holding PAYLOAD.TARGET. */
int
make_backup(struct vk_repo *r, enum vk_level level, const char *chk,
            const struct vk_backup *parent, char *const *targets, const char *payload,
            struct vk_backup **out)
{
  struct vk_backup *b = NULL;
  if (vk_repo_begin(r, level, chk, NULL, parent, targets, NULL, NULL, &b) < 0)
    return -1;
  for (size_t i = 0; i < b->nr_disks; i++) {
    CLEANUP_FREE char *path = vk_repo_path(r, b->disks[i].file);
    CLEANUP_FREE char *data = vk_xasprintf("%s.%s", payload, b->disks[i].target);
    if (put(path, data, strlen(data)) < 0) {
      fprintf(stderr, "cannot create %s: %m\n", path);
      vk_repo_abort(r, b);
      return -1;
    }
    b->disks[i].virtual_size = UINT64_C(1) << 30;
    b->disks[i].bytes = strlen(data);
  }
  if (vk_repo_write_file(r, b->domain_xml, "<domain type='kvm'><name>x</name></domain>\n") < 0 ||
      vk_repo_write_file(r, b->checkpoint_xml, "<domaincheckpoint/>\n") < 0 ||
      vk_repo_commit(r, b) < 0) {
    vk_repo_abort(r, b);
    return -1;
  }
  if (out)
    *out = b;
  return 0;
}

/* Compare two strings that may be NULL. */
bool
same(const char *a, const char *b)
{
  return a == b || (a && b && strcmp(a, b) == 0);
}

/* Whether two backups are equal field by field. */
bool
same_backup(const struct vk_backup *a, const struct vk_backup *b)
{
  if (!same(a->id, b->id) || !same(a->chain, b->chain) || a->level != b->level ||
      !same(a->checkpoint, b->checkpoint) || !same(a->since, b->since) ||
      !same(a->parent, b->parent) || a->start != b->start || a->end != b->end ||
      !same(a->domain_xml, b->domain_xml) || !same(a->checkpoint_xml, b->checkpoint_xml) ||
      a->nr_disks != b->nr_disks)
    return false;
  for (size_t i = 0; i < a->nr_disks; i++) {
    const struct vk_backup_disk *x = &a->disks[i], *y = &b->disks[i];
    if (!same(x->target, y->target) || !same(x->file, y->file) ||
        !same(x->backing, y->backing) || x->virtual_size != y->virtual_size ||
        x->bytes != y->bytes || !same(x->checksum, y->checksum) ||
        x->checksum_type != y->checksum_type || x->has_guest_bytes != y->has_guest_bytes ||
        x->guest_bytes != y->guest_bytes)
      return false;
  }
  return true;
}

/* Count our temporary files left anywhere under DIR. */
int
count_temps(const char *dir)
{
  int n = 0;
  DIR *d = opendir(dir);
  if (!d)
    return 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, ".tmp.", 5) == 0)
      n++;
    else if (e->d_name[0] != '.' && e->d_type == DT_DIR) {
      CLEANUP_FREE char *sub = vk_xasprintf("%s/%s", dir, e->d_name);
      n += count_temps(sub);
    }
  }
  closedir(d);
  return n;
}

/* Open with the lock and report the status (in a child). */
int
open_locked(void *arg)
{
  struct vk_repo *r = NULL;
  if (vk_repo_open(repo, arg, true, true, &r) < 0)
    return -1;
  vk_repo_close(r);
  return 0;
}

int
repo_test_main(const char *program, const struct repo_test *tests, size_t n,
               int argc, char **argv)
{
  vk_progname = program;
  /* One seed for every random choice, so a failure can be replayed:
   * VCKPT_TEST_SEED=N ./PROGRAM [TEST].  (The instants of the kills of
   * test-repo-killed still depend on the machine's speed.)
   */
  const char *env_seed = getenv("VCKPT_TEST_SEED");
  if (env_seed && *env_seed)
    seed = strtoul(env_seed, NULL, 0);
  else {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    seed = (unsigned)now.tv_nsec ^ (unsigned)now.tv_sec ^ (unsigned)getpid();
  }
  printf("%s: random seed %u (VCKPT_TEST_SEED=%u replays it)\n", program, seed, seed);
  fflush(stdout);
  const char *base = getenv("TMPDIR");
  tmpdir = vk_xasprintf("%s/%s.XXXXXX", base && *base ? base : "/tmp", program);
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  repo = vk_xasprintf("%s/repo", tmpdir);

  for (size_t i = 0; i < n; i++) {
    if (argc > 1 && strcmp(argv[1], tests[i].name) != 0)
      continue;
    int before = errors;
    tests[i].fn();
    if (errors != before)
      fprintf(stderr, "FAIL: %s\n", tests[i].name);
  }
  if (!errors)
    rm_rf(tmpdir);
  else
    fprintf(stderr, "%s: files kept in %s; random seed %u (VCKPT_TEST_SEED=%u "
            "replays it)\n", program, tmpdir, seed, seed);
  free(repo);
  free(tmpdir);
  printf("%s\n", errors ? "FAIL" : "PASS");
  return errors ? 1 : 0;
}
