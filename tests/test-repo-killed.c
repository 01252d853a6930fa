/* Unit test of the backup repository (lib/repo.c): backup runs killed
 * (SIGKILL) at random instants, as a cron job run again and again would
 * be, always leave a repository that opens, holds every committed backup
 * and no orphan.  VCKPT_TEST_SEED=N replays the random choices.
 */
#include <config.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "repo.h"
#include "util.h"
#include "repo-test.h"

/* ---- commits killed at random instants ---- */

/* Make backups forever, as a cron job run again and again would. */
static int
backup_forever(void *arg)
{
  for (unsigned n = 0; ; n++) {
    struct vk_repo *r = NULL;
    if (vk_repo_open(repo, "killed", true, true, &r) < 0)
      return -1;
    if (vk_repo_pending(r) && vk_repo_recover(r) < 0)
      return -1;
    const struct vk_backup *latest = vk_repo_latest(r);
    char chk[32];
    snprintf(chk, sizeof chk, "k%ld-%u", (long)getpid(), n);
    bool full = !latest || vk_repo_manifest(r)->nr_backups % 5 == 0;
    char payload[64];
    snprintf(payload, sizeof payload, "%ld.%u.%d", (long)getpid(), n, rand());
    if (make_backup(r, full ? VK_LEVEL_FULL : VK_LEVEL_INCREMENTAL, chk,
                    full ? NULL : latest, vda_vdb, payload, NULL) < 0)
      return -1;
    vk_repo_close(r);
  }
}

/* Whether NAME (CHAIN/FILE, or CHAIN alone) belongs to a committed backup. */
static bool
in_manifest(const struct vk_manifest *m, const char *name)
{
  for (size_t i = 0; i < m->nr_backups; i++) {
    const struct vk_backup *b = &m->backups[i];
    if (same(b->chain, name) || same(b->domain_xml, name) || same(b->checkpoint_xml, name))
      return true;
    for (size_t j = 0; j < b->nr_disks; j++)
      if (same(b->disks[j].file, name))
        return true;
  }
  return false;
}

/* Count the files and directories of the repository R that no committed
 * backup names (SUB: "" for the domain directory, else a chain).
 */
static int
count_orphans(struct vk_repo *r, const char *sub)
{
  CLEANUP_FREE char *dir = vk_xasprintf("%s%s%s", vk_repo_dir(r), *sub ? "/" : "", sub);
  DIR *d = opendir(dir);
  int n = 0;
  if (!d)
    return 1;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
        (!*sub && (strcmp(e->d_name, "manifest.xml") == 0 || strcmp(e->d_name, "lock") == 0)))
      continue;
    CLEANUP_FREE char *name = vk_xasprintf("%s%s%s", sub, *sub ? "/" : "", e->d_name);
    if (!in_manifest(vk_repo_manifest(r), name)) {
      fprintf(stderr, "orphan: %s\n", name);
      n++;
    } else if (!*sub)
      n += count_orphans(r, name);
  }
  closedir(d);
  return n;
}

/* Check a repository after a kill: it opens, every committed file is there
 * with its checksum, the journal rolls back, and then no temporary file nor
 * any file that no backup uses is left.
 * Returns the number of backups, or -1.
 */
static long
check_after_kill(size_t before, int *had_journal)
{
  struct vk_repo *r = NULL;
  if (vk_repo_open(repo, "killed", true, true, &r) < 0)
    return -1;
  const struct vk_manifest *m = vk_repo_manifest(r);
  long n = m->nr_backups;
  bool ok = m->nr_backups >= before;
  for (size_t i = 0; i < m->nr_backups && ok; i++)
    for (size_t j = 0; j < m->backups[i].nr_disks; j++) {
      CLEANUP_FREE char *path = vk_repo_path(r, m->backups[i].disks[j].file);
      char hex[65];
      ok = ok && vk_sum_file(m->backups[i].disks[j].checksum_type, path, hex) == 0 &&
           same(hex, m->backups[i].disks[j].checksum);
    }
  const struct vk_backup *p = vk_repo_pending(r);
  if (p && ok) {
    (*had_journal)++;
    for (size_t i = 0; i < m->nr_backups; i++)
      ok = ok && !same(m->backups[i].id, p->id);
    CLEANUP_FREE char *path = vk_repo_path(r, p->disks[0].file);
    ok = ok && vk_repo_recover(r) == 0 && !file_exists(path);
  }
  ok = ok && count_temps(vk_repo_dir(r)) == 0 && count_orphans(r, "") == 0;
  vk_repo_close(r);
  return ok ? n : -1;
}

/* Backup runs killed at random instants always leave a usable repository. */
static void
test_killed(void)
{
  const int iterations = 200;
  const double budget = 8.0;   /* seconds */
  struct timespec t0, t1;
  int done = 0, journals = 0;
  long backups = 0;

  /* The warnings of the lock takeovers go to a log shown on failure. */
  CLEANUP_FREE char *log = vk_xasprintf("%s/killed.log", tmpdir);
  fflush(stderr);
  int saved = dup(2);
  int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  dup2(logfd, 2);
  close(logfd);
  vk_verbose = 1;   /* count the journals found already committed */

  /* Kill within twice the time one backup run takes, so kills land
   * everywhere in it, however fast the machine (or slow under valgrind).
   */
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < 3; i++) {
    struct vk_repo *r = NULL;
    CHECK(vk_repo_open(repo, "calibrate", true, true, &r) == 0 &&
          make_backup(r, i ? VK_LEVEL_INCREMENTAL : VK_LEVEL_FULL, "k", vk_repo_latest(r),
                      vda_vdb, "calibrate", NULL) == 0, "calibration backup");
    vk_repo_close(r);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  long window = ((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000) * 2 / 3;
  if (window < 1000)
    window = 1000;

  srand(seed);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (; done < iterations; done++) {
    pid_t pid = fork();
    if (pid == 0) {
      int fd = open("/dev/null", O_WRONLY);
      dup2(fd, 2);
      srand(seed + done + 1);
      backup_forever(NULL);
      _exit(1);
    }
    usleep(rand() % window);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    if (!WIFSIGNALED(status)) {
      fprintf(stderr, "FAIL: backup loop exited with %d\n", WEXITSTATUS(status));
      errors++;
      break;
    }
    long n = check_after_kill(backups, &journals);
    if (n < 0) {
      fprintf(stderr, "FAIL: repository broken after kill %d\n", done);
      errors++;
      break;
    }
    backups = n;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9 > budget) {
      done++;
      break;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  vk_verbose = 0;
  fflush(stderr);
  dup2(saved, 2);
  close(saved);

  CLEANUP_FREE char *text = slurp(log, NULL);
  int late = 0;
  for (const char *p = text; p && (p = strstr(p, "was committed; removing its journal")); p++)
    late++;
  printf("one backup run takes %.1f ms; ", window / 2000.0);
  printf("killed %d backup runs in %.1f s: %ld backups committed, %d journals rolled back, "
         "%d journals of committed backups dropped\n", done,
         t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9, backups, journals, late);
  if (errors && text)
    fprintf(stderr, "%s", text);
  CHECK(backups > 0 && journals > 0, "the kills hit both committed and uncommitted states");
}

static const struct repo_test tests[] = {
  { "killed", test_killed },
};

/* The cases above, or the one named by argv[1]. */
int
main(int argc, char **argv)
{
  return repo_test_main("test-repo-killed", tests, sizeof tests / sizeof tests[0], argc, argv);
}
