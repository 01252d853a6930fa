/* vckpt - DOMAIN|--all: run a command over many domains, each in its own
 * vckpt process (lib/fleet.h), and print one result per domain.
 */
#ifndef VCKPT_RUNALL_H
#define VCKPT_RUNALL_H

#include "vckpt.h"

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
};

/* Run RA over the domains NAMES, then print, as text, a table with a row
 * per domain (domain, outcome, the command's columns, seconds, exit
 * status) and a count, or with --json one result per domain (output.h);
 * with -q nothing when every domain succeeded.  Each failure is reported
 * in its domain's unit of work (util.h), so the exit status is the most
 * serious of the domains'.  0 if every domain succeeded, else -1.
 */
int run_all(struct cmd_ctx *ctx, char *const *names, const struct run_all *ra);

#endif
