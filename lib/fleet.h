/* vckpt - runs over many domains (backup, validate, verify and prune
 * --all): the domains to run, and the runner that runs each in its own
 * vckpt process, at most N at once (validate --all runs its domains in its
 * own process: src/runall.c).  vckpt's error and output state is per process, so a
 * domain's child can never see, or taint, another's (HACKING.md).
 */
#ifndef VCKPT_FLEET_H
#define VCKPT_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <libvirt/libvirt.h>

/* One domain of a run over many. */
struct vk_fleet_task {
  const char *name;       /* the domain (borrowed) */
  char **args;            /* the child's arguments after the program name
                             (owned, NULL-terminated) */
  unsigned group;         /* vk_fleet_run_groups: its group (a host) */
  /* Filled by vk_fleet_run: */
  bool started;           /* its child ran (else: a stop signal came first) */
  int status;             /* its exit status (VK_EXIT_*); a child killed
                             by a signal or not run counts as a failure */
  int signal;             /* the signal that killed its child, or 0 */
  char *error;            /* why its child could not run, or NULL */
  char *output;           /* what the child wrote on stdout */
  double seconds;         /* how long its child ran */
};

/* The domains of CONN to run over: the running (and paused) ones, and
 * with INACTIVE the shut-off ones too; sorted by name.  *NAMES is a new
 * NULL-terminated vector.  0, or -1 after reporting.
 */
int vk_fleet_domains(virConnectPtr conn, bool inactive, char ***names);
/* The same over a connection of its own to URI (a host of the policy
 * file), closed before it returns; a URI that cannot be connected to is
 * reported (VK_EXIT_FAILURE).
 */
int vk_fleet_host_domains(const char *uri, bool inactive, char ***names);
/* The domains that have a directory holding a manifest in repository
 * REPO_DIR, sorted by name (read-only; symbolic links are not followed).
 * A missing repository is VK_EXIT_NOT_FOUND.  0, or -1 after reporting.
 */
int vk_fleet_repo_domains(const char *repo_dir, char ***names);
/* The same for the directories holding any of the files MARKERS
 * (NULL-terminated), and with LINKS every symbolic link among the entries
 * too (never followed: status reports them as not being directories).
 */
int vk_fleet_repo_entries(const char *repo_dir, const char *const *markers, bool links,
                          char ***names);

/* Run the N TASKS, each in a child process running this program with the
 * task's arguments (no shell; standard input /dev/null, standard output
 * collected into the task's output, standard error shared), at most JOBS
 * at once, in order.  The stop signals (process.h) are forwarded to the children
 * running (they roll back and exit 6); the tasks not started by then are
 * not started and get VK_EXIT_INTERRUPTED.  A task's failure never stops
 * the others.  Returns 0 once every task has ended, -1 after reporting if
 * the run could not be set up at all.
 */
int vk_fleet_run(struct vk_fleet_task *tasks, size_t n, unsigned jobs);
/* The same with NGROUPS groups of tasks (the hosts of backup --all), at
 * most GROUP_JOBS[G] of group G's at once (0 counts as 1): each task is
 * started, in order, as soon as its group has room, so a group whose
 * domains take long never holds up another's.
 */
int vk_fleet_run_groups(struct vk_fleet_task *tasks, size_t n, const unsigned *group_jobs,
                        size_t ngroups);
/* Free what a task owns (args, error, output). */
void vk_fleet_task_clear(struct vk_fleet_task *t);

#endif
