/* Unit test of the backup repository (lib/repo.c), its lock: a held lock
 * is busy and names its holder, reading without it is allowed, a killed
 * holder's lock is taken over.
 */
#include <config.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backup.h"
#include "repo.h"
#include "util.h"
#include "repo-test.h"

/* Fork a process holding the lock of DOMAIN until its stdin pipe closes. */
static pid_t
lock_holder(const char *domain, int *release)
{
  int ready[2], hold[2];
  if (pipe(ready) < 0 || pipe(hold) < 0)
    abort();
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    struct vk_repo *r = NULL;
    char c = vk_repo_open(repo, domain, true, true, &r) == 0 ? 'y' : 'n';
    close(ready[0]);
    close(hold[1]);
    if (write(ready[1], &c, 1) != 1)
      _exit(1);
    while (read(hold[0], &c, 1) < 0 && errno == EINTR)
      ;
    vk_repo_close(r);
    _exit(0);
  }
  close(ready[1]);
  close(hold[0]);
  char c = 'n';
  CHECK(read(ready[0], &c, 1) == 1 && c == 'y', "lock holder started");
  close(ready[0]);
  *release = hold[1];
  return pid;
}

/* A held lock is busy and names its holder; a killed holder's is taken over. */
static void
test_lock(void)
{
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  int release;
  pid_t holder = lock_holder("locked", &release);
  CLEANUP_FREE char *err = NULL;
  CLEANUP_FREE char *want = vk_xasprintf("repository of domain 'locked' is locked by pid %ld "
                                         "on %s since ", (long)holder, host);
  int rc = in_child(open_locked, (void *)"locked", &err);
  CHECK(rc == VK_EXIT_BUSY && strstr(err, want) && strstr(err, "test-repo-lock)"),
        "busy: %d %s", rc, err);
  /* Reading without the lock is allowed meanwhile. */
  struct vk_repo *r = NULL;
  CHECK(vk_repo_open(repo, "locked", false, false, &r) == 0, "open without lock");
  vk_repo_close(r);

  close(release);
  waitpid(holder, NULL, 0);
  free(err);
  rc = in_child(open_locked, (void *)"locked", &err);
  CHECK(rc == 0 && !strstr(err, "warning"), "after release: %d %s", rc, err);

  /* A holder killed with SIGKILL: its lock is taken over with a warning. */
  holder = lock_holder("stale", &release);
  kill(holder, SIGKILL);
  waitpid(holder, NULL, 0);
  close(release);
  free(err);
  free(want);
  want = vk_xasprintf("left by pid %ld on %s since ", (long)holder, host);
  rc = in_child(open_locked, (void *)"stale", &err);
  CHECK(rc == 0 && strstr(err, want) && strstr(err, "no longer running"),
        "stale lock: %d %s", rc, err);
  free(err);
  rc = in_child(open_locked, (void *)"stale", &err);
  CHECK(rc == 0 && !*err, "second open after a takeover is quiet: %s", err);
}

static const struct repo_test tests[] = {
  { "lock", test_lock },
};

/* The cases above, or the one named by argv[1]. */
int
main(int argc, char **argv)
{
  return repo_test_main("test-repo-lock", tests, sizeof tests / sizeof tests[0], argc, argv);
}
