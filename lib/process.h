/* vckpt - child processes and stop signals: the one way vckpt runs a
 * program, and the one place that catches the signals asking it to stop.
 *
 * The stop signals are SIGINT (Ctrl-C), SIGTERM (kill, systemd stopping a
 * service), SIGHUP (a dropped ssh session) and SIGQUIT (Ctrl-\).  Every
 * long operation (backup, restore, restore --instant and --finish, prune,
 * overlay create, commit, repair, verify, drills, runs over many domains)
 * brackets its work with vk_stop_catch_begin/vk_stop_catch_end: in
 * between, a stop signal does not end vckpt but sets vk_stop_signal and
 * makes vk_stop_fd readable; the operation looks at it between its steps
 * (and waits on the descriptor where it blocks), and either rolls back
 * what it did (exit status 6, VK_EXIT_INTERRUPTED) or, once past its
 * commit point, completes and says the signal came too late (exit 0).
 * Before the first catch the signals keep their default action (nothing
 * was started, nothing is undone).  After the last catch ended they stay
 * caught: the work is done, vckpt only reports it, and a signal then is
 * noted (vk_stop_late) and changes nothing.
 */
#ifndef VCKPT_PROCESS_H
#define VCKPT_PROCESS_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

/* The stop signal that came (the last one), or 0. */
extern volatile sig_atomic_t vk_stop_signal;

/* An operation begins (the stop signals are caught into vk_stop_signal
 * from the first call on) and ends (calls nest).
 */
void vk_stop_catch_begin(void);
void vk_stop_catch_end(void);

/* A stop signal that came while no operation was running (after the last
 * one ended), or 0: main() says it changed nothing.
 */
int vk_stop_late(void);

/* A descriptor that becomes readable (and stays so) once a stop signal
 * came: poll it beside what a wait waits for.  -1 outside a catch.
 */
int vk_stop_fd(void);

/* Add the stop signals to SET: for blocking them in threads, or setting
 * them to their defaults in a child.
 */
void vk_stop_sigset(sigset_t *set);

/* Run a program (argv[0] looked up in PATH) without a shell and wait for it;
 * its standard error is collected and reported on failure.  A stop signal
 * does not end it (a step of qemu-img is left to finish); a child the
 * signal reached too (the terminal's process group) is reported as an
 * interruption (exit 6).
 */
int vk_run(char *const argv[]);

/* Where a child's standard output or error goes (vk_process_start): a
 * descriptor, or one of these.
 */
enum { VK_CHILD_NULL = -1,      /* /dev/null */
       VK_CHILD_INHERIT = -2 }; /* vckpt's own */

/* The one way vckpt starts a program: ARGV (argv[0] looked up in PATH
 * unless it holds a '/'), no shell, standard input on /dev/null, standard
 * output on OUT and standard error on ERR (see above), FD3 (if >= 0) as
 * its descriptor 3, no signal blocked and the stop signals and SIGPIPE at
 * their defaults.  It does not wait: 0 with *PID, or an errno value
 * (nothing reported).
 */
int vk_process_start(char *const argv[], int out, int err, int fd3, pid_t *pid);
/* The same with FLAGS: */
enum { VK_CHILD_GROUP = 1,     /* in a process group of its own (a terminal's
                                * Ctrl-C goes to vckpt, which stops it in order) */
       VK_CHILD_BOUND = 2 };   /* and killed with SIGTERM when vckpt dies
                                * (PR_SET_PDEATHSIG; implies VK_CHILD_GROUP;
                                * ARGV[0] is a path, never looked up) */
int vk_process_start_with(char *const argv[], int out, int err, int fd3, unsigned flags,
                          pid_t *pid);
/* Where a child runs besides its descriptors (vk_process_start_in): in
 * directory DIR (NULL: vckpt's working directory), with the environment
 * ENV (NULL-terminated "NAME=VALUE" strings; NULL: vckpt's).
 */
struct vk_child_env {
  const char *dir;
  char *const *env;
};
/* vk_process_start_with, the child started as CE says (NULL: as vckpt). */
int vk_process_start_in(char *const argv[], int out, int err, int fd3, unsigned flags,
                        const struct vk_child_env *ce, pid_t *pid);

/* Run a program as vk_process_start does and wait for it: stdin and stdout
 * on /dev/null, FD3 (if >= 0) as its descriptor 3, no signal blocked and the
 * stop signals at their defaults.  Its standard error goes to *MSG (the
 * start of it, trimmed).  When WAKE_FD >= 0 (vk_stop_fd()), a stop signal
 * ends the child with SIGTERM: 1 is returned once it is reaped (or at
 * once, nothing run, when the signal came before).  0 with *STATUS when it
 * ran to its end; -1 if it could not be run (reported).
 */
int vk_spawn(char *const argv[], int fd3, int wake_fd, int *status, char **msg);

#endif
