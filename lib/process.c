/* vckpt - child processes and stop signals (process.h). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process.h"
#include "util.h"

extern char **environ;

/* ---- stop signals ---- */

volatile sig_atomic_t vk_stop_signal;

/* The signals that ask vckpt to stop, in one list. */
static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define NR_STOP (sizeof stop_signals / sizeof stop_signals[0])

/* The self-pipe the handler writes to, made at the first catch and kept
 * (never closed under a handler that may run); how deep the catches nest;
 * a signal that came while no catch was open (after an operation ended).
 */
static int wake[2] = { -1, -1 };
static volatile sig_atomic_t depth;
static volatile sig_atomic_t late;

/* Note the signal and wake whoever polls vk_stop_fd. */
static void
on_stop(int sig)
{
  int saved_errno = errno;
  vk_stop_signal = sig;
  if (depth == 0)
    late = sig;
  char c = 1;
  if (wake[1] >= 0 && write(wake[1], &c, 1) < 0) {
    /* full: the descriptor is readable anyway */
  }
  errno = saved_errno;
}

/* Add the stop signals to SET (process.h). */
void
vk_stop_sigset(sigset_t *set)
{
  for (size_t i = 0; i < NR_STOP; i++)
    sigaddset(set, stop_signals[i]);
}

/* An operation begins: catch the stop signals (process.h). */
void
vk_stop_catch_begin(void)
{
  static bool installed;
  if (depth++ > 0)
    return;
  late = 0;               /* a signal since the last operation: this one sees it */
  if (installed)
    return;
  /* The first catch installs the handler for the rest of the process. */
  installed = true;
  if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) < 0) {
    vk_warn("pipe: %s: a stop signal is seen between steps only", strerror(errno));
    wake[0] = wake[1] = -1;
  }
  /* SA_RESTART: reads and writes go on; waits poll vk_stop_fd, and every
   * phase looks at vk_stop_signal.  The other stop signals are blocked
   * while the handler runs.
   */
  struct sigaction sa = { .sa_handler = on_stop, .sa_flags = SA_RESTART };
  sigemptyset(&sa.sa_mask);
  vk_stop_sigset(&sa.sa_mask);
  for (size_t i = 0; i < NR_STOP; i++)
    sigaction(stop_signals[i], &sa, NULL);
}

/* An operation ends (process.h). */
void
vk_stop_catch_end(void)
{
  if (depth > 0)
    depth--;
}

/* The signal that came after the last operation ended (process.h). */
int
vk_stop_late(void)
{
  return late;
}

/* The descriptor a stop signal makes readable (process.h). */
int
vk_stop_fd(void)
{
  return depth > 0 ? wake[0] : -1;
}

/* ---- child processes ---- */

/* Make descriptor FD of the child OUT: a descriptor, /dev/null, or left. */
static void
child_fd(posix_spawn_file_actions_t *fa, int fd, int out)
{
  if (out == VK_CHILD_NULL)
    posix_spawn_file_actions_addopen(fa, fd, "/dev/null", O_WRONLY, 0);
  else if (out >= 0)
    posix_spawn_file_actions_adddup2(fa, out, fd);
}

/* In a forked child (async-signal-safe calls only): make descriptor FD
 * OUT, as child_fd does.  0, or -1.
 */
static int
forked_fd(int fd, int out, int nullfd)
{
  if (out == VK_CHILD_INHERIT)
    return 0;
  return dup2(out == VK_CHILD_NULL ? nullfd : out, fd) < 0 ? -1 : 0;
}

/* vk_process_start_with's VK_CHILD_BOUND: posix_spawn cannot ask for
 * PR_SET_PDEATHSIG, so fork and exec; only async-signal-safe calls run in
 * the child.
 */
static int
start_bound(char *const argv[], int out, int err, int fd3, const char *dir, char *const *env,
            pid_t *pid)
{
  int nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (nullfd < 0)
    return errno;
  pid_t parent = getpid();
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  pid_t p = fork();
  if (p == 0) {
    setpgid(0, 0);
    /* Asked for before the parent could have died: if it did meanwhile,
     * the child was adopted and must not run on.
     */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
      _exit(127);
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    for (int s = 1; s < NSIG; s++)
      if (s != SIGKILL && s != SIGSTOP)
        sigaction(s, &dfl, NULL);
    if (dup2(nullfd, 0) < 0 || forked_fd(1, out, nullfd) < 0 || forked_fd(2, err, nullfd) < 0 ||
        (fd3 >= 0 && dup2(fd3, 3) < 0) || (dir && chdir(dir) < 0))
      _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(argv[0], argv, env);   /* ARGV[0] a path: no PATH search here */
    _exit(127);
  }
  int e = p < 0 ? errno : 0;
  sigprocmask(SIG_SETMASK, &old, NULL);
  close(nullfd);
  if (e == 0)
    *pid = p;
  return e;
}

/* Start ARGV without waiting for it (process.h). */
int
vk_process_start(char *const argv[], int out, int err, int fd3, pid_t *pid)
{
  return vk_process_start_with(argv, out, err, fd3, 0, pid);
}

/* The same with FLAGS (process.h). */
int
vk_process_start_with(char *const argv[], int out, int err, int fd3, unsigned flags, pid_t *pid)
{
  return vk_process_start_in(argv, out, err, fd3, flags, NULL, pid);
}

/* The same in a directory and environment of its own (process.h). */
int
vk_process_start_in(char *const argv[], int out, int err, int fd3, unsigned flags,
                    const struct vk_child_env *ce, pid_t *pid)
{
  const char *dir = ce ? ce->dir : NULL;
  char *const *env = ce && ce->env ? ce->env : environ;
  if (flags & VK_CHILD_BOUND)
    return start_bound(argv, out, err, fd3, dir, env, pid);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  child_fd(&fa, 1, out);
  child_fd(&fa, 2, err);
  if (fd3 >= 0)
    posix_spawn_file_actions_adddup2(&fa, fd3, 3);
  if (dir)
    posix_spawn_file_actions_addchdir_np(&fa, dir);
  /* The child starts with no signal blocked and the stop signals at their
   * defaults, whatever vckpt did with them.
   */
  posix_spawnattr_t at;
  posix_spawnattr_init(&at);
  sigset_t none, def;
  sigemptyset(&none);
  sigemptyset(&def);
  sigaddset(&def, SIGPIPE);
  vk_stop_sigset(&def);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &def);
  short sf = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (flags & VK_CHILD_GROUP) {
    posix_spawnattr_setpgroup(&at, 0);
    sf |= POSIX_SPAWN_SETPGROUP;
  }
  posix_spawnattr_setflags(&at, sf);
  int e = posix_spawnp(pid, argv[0], &fa, &at, argv, env);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  return e;
}

/* Run ARGV and collect its standard error (process.h). */
int
vk_spawn(char *const argv[], int fd3, int wake_fd, int *status, char **msg)
{
  *msg = NULL;
  if (wake_fd >= 0 && vk_stop_signal)
    return 1;             /* stopped before it started */
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) < 0) {
    vk_error(VK_EXIT_FAILURE, "pipe: %s", strerror(errno));
    return -1;
  }
  pid_t pid;
  int e = vk_process_start(argv, VK_CHILD_NULL, pfd[1], fd3, &pid);
  close(pfd[1]);
  if (e != 0) {
    close(pfd[0]);
    vk_error(VK_EXIT_FAILURE, "cannot run %s: %s", argv[0], strerror(e));
    return -1;
  }
  /* Keep the start of its standard error, drain the rest. */
  char buf[4096];
  size_t len = 0;
  bool stopped = false;
  for (;;) {
    if (wake_fd >= 0) {
      struct pollfd p[2] = { { .fd = pfd[0], .events = POLLIN }, { .fd = wake_fd, .events = POLLIN } };
      int n = vk_stop_signal ? 0 : poll(p, 2, -1);
      if (vk_stop_signal) {
        stopped = true;
        kill(pid, SIGTERM);
        break;
      }
      if (n < 0 && errno == EINTR)
        continue;
      if (n > 0 && !p[0].revents)
        continue;
    }
    char sink[512];
    bool keep = len < sizeof buf - 1;
    ssize_t n = read(pfd[0], keep ? buf + len : sink, keep ? sizeof buf - 1 - len : sizeof sink);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    if (keep)
      len += n;
  }
  buf[len] = '\0';
  close(pfd[0]);
  while (waitpid(pid, status, 0) < 0)
    if (errno != EINTR) {
      vk_error(VK_EXIT_FAILURE, "waitpid: %s", strerror(errno));
      return -1;
    }
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
    buf[--len] = '\0';
  *msg = vk_xstrdup(buf);
  return stopped ? 1 : 0;
}

/* Run ARGV to its end; a failure is reported (process.h). */
int
vk_run(char *const argv[])
{
  int status;
  CLEANUP_FREE char *msg = NULL;
  if (vk_spawn(argv, -1, -1, &status, &msg) < 0)
    return -1;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return 0;
  if (WIFEXITED(status))
    vk_error(VK_EXIT_FAILURE, "%s failed (exit %d)%s%s", argv[0], WEXITSTATUS(status),
             *msg ? ": " : "", msg);
  else if (vk_stop_signal)   /* the terminal's Ctrl-C reached it too */
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d while %s ran", (int)vk_stop_signal,
             argv[0]);
  else
    vk_error(VK_EXIT_FAILURE, "%s killed by signal %d", argv[0], WTERMSIG(status));
  return -1;
}
