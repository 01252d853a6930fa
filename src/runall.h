/* vckpt - DOMAIN|--all: run a command over many domains, each in its own
 * vckpt process (lib/fleet.h) or, for short read-only commands, one after
 * another in this process, and print one result per domain.
 */
#ifndef VCKPT_RUNALL_H
#define VCKPT_RUNALL_H

#include "vckpt.h"

/* A host of a run over several (backup --all over the policy's hosts). */
struct run_host {
  const char *name;               /* the policy's name of it */
  const char *uri;                /* its domains' children get -c URI */
  unsigned jobs;                  /* at most this many of its domains at once */
  int status;                     /* 0, or why its domains could not be listed
                                     (reported in its own unit of work) */
};

/* What a command tells run_all about itself. */
struct run_all {
  const char *verb;               /* "backup": message context "backup NAME" */
  const char *const *args;        /* the child's command and options, before
                                     "--" DOMAIN (NULL-terminated) */
  unsigned jobs;                  /* at most this many at once */
  const char *noun;               /* "backed up", "valid", "verified" */
  /* The columns after DOMAIN OUTCOME of a domain's row, from its child's
   * --json result (NULL if it printed none) and exit status, and their
   * header.
   */
  const char *header;
  char *(*columns)(json_object *result, int status);
  /* Set for a command run in this process instead (validate: a few
   * milliseconds of work against a process start-up several times that):
   * RUN does the command for domain NAME inside the domain's own unit of
   * work (util.h), reports its failure there, and sets *RESULT to what
   * its --json would print (NULL if nothing; a refused preflight prints its
   * report).  The domains then run one after another (JOBS is not used),
   * ARGS is not used, and each domain's result is dropped once its row is
   * made, unless --json prints it.  0, or -1 after reporting.
   */
  int (*run)(struct cmd_ctx *ctx, const char *name, json_object **result);
  /* Set for a run over several hosts (run_all_hosts): NAMES[i] is a domain
   * of HOSTS[HOST_OF[i]], the names grouped by host in the hosts' order.
   * Each host's domains run at most its JOBS at once (JOBS above is not
   * used), their children connecting to its URI; a host whose STATUS is
   * not 0 has a row of its own (outcome "unreachable"); the table gets a
   * HOST column and each JSON result a "host".
   */
  const struct run_host *hosts;
  size_t nr_hosts;
  const size_t *host_of;
};

/* A child's command and options (struct run_all's ARGS), built one at a
 * time: V is NULL-terminated after each run_args_add; free it with free().
 * (The checks of DOMAIN|--all are cmd.c's: CMD_ALL.)
 */
struct run_args {
  const char **v;
  size_t n;
};
void run_args_add(struct run_args *a, const char *arg);

/* Run RA over the domains NAMES, then print, as text, a table with a row
 * per domain (domain, outcome, the command's columns, seconds, exit
 * status) and a count, or with --json one result per domain (output.h);
 * with -q nothing when every domain succeeded.  Each failure is reported
 * in its domain's unit of work (util.h), so the exit status is the most
 * serious of the domains'.  0 if every domain succeeded, else -1.
 */
int run_all(struct cmd_ctx *ctx, char *const *names, const struct run_all *ra);

/* backup --all: the domains of every host the policy file CFG names (its
 * host sections; the running ones, with INACTIVE the shut-off ones too),
 * each host's at most its own jobs at once (JOBS_GIVEN: RA's jobs, the
 * command line's --jobs, for every host; else the host's jobs, else RA's),
 * a host that cannot be reached or listed stopping no other; without host
 * sections, or with -c given, the domains of the command's connection as
 * before.  Then run_all.  0 if every host and domain succeeded, else -1.
 */
struct vk_policy_file;
int run_all_hosts(struct cmd_ctx *ctx, const struct vk_policy_file *cfg, bool inactive,
                  bool jobs_given, const struct run_all *ra);

#endif
