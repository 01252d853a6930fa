/* vckpt - the command table shared by main.c and the cmd-*.c files.
 *
 * Adding a command: write cmd-FAMILY.c with a `const struct cmd_entry`,
 * list it in commands.c, add the file to src/Makefile.am, document it in
 * man/vckpt.pod (SYNOPSIS must equal `vckpt help --synopsis`), add a test.
 * The machinery that runs the table (lookup, popt, option groups, usage,
 * help) is cmd.c; main.c only parses global options and dispatches.
 */
#ifndef VCKPT_VCKPT_H
#define VCKPT_VCKPT_H

#include <popt.h>
#include <libvirt/libvirt.h>

#include "output.h"
#include "util.h"

/* Preconditions of a command, checked by cmd.c before it runs. */
enum cmd_flags {
  CMD_CONNECTS = 1 << 0,  /* may open a libvirt connection (ctx_connect) */
  CMD_HIDDEN = 1 << 1,    /* not listed in --help */
  /* DOMAIN|--all: with --all no DOMAIN, and --jobs (if the command has
   * it) from 1 to 64; without it a DOMAIN, and neither --jobs nor
   * --include-shut-off.  The command has an option "all" (and args
   * "DOMAIN|--all", max_args 1).
   */
  CMD_ALL = 1 << 2,
};

/* What a command handler gets from the machinery (cmd.c). */
struct cmd_ctx {
  const char *uri;        /* -c/--connect, or NULL */
  virConnectPtr conn;     /* opened on demand by ctx_connect() */
  const struct cmd_entry *entry;
};

struct cmd_entry {
  const char *name;       /* one or two words: "checkpoint create" */
  const char *args;       /* positional arguments: "DOMAIN [NAME]" */
  const char *summary;    /* one line for the command list */
  const struct poptOption *options;  /* POPT_TABLEEND-terminated; every
                                        option has a unique nonzero val */
  const char *const *exclusive;      /* long names of which at most one
                                        may be given, NULL-terminated */
  const char *const *required_one;   /* long names of which exactly one
                                        must be given */
  const char *const *required;       /* long names that must all be given */
  unsigned int flags;
  int min_args, max_args;            /* positional count; max -1: any */
  /* Optional: called after the options are parsed, before the arguments
   * are counted, to put back a positional argument that an option with an
   * optional value (POPT_ARGFLAG_OPTIONAL) took as its value; 0, or -1
   * after reporting a usage error.
   */
  int (*fix_args)(int *argc, const char ***argv);
  /* Runs the command; returns 0 or -1 after reporting the error. */
  int (*exec)(struct cmd_ctx *ctx, int argc, const char **argv);
};

/* The table, NULL-terminated (commands.c). */
extern const struct cmd_entry *const cmd_table[];

/* Open the libvirt connection for a CMD_CONNECTS command. */
virConnectPtr ctx_connect(struct cmd_ctx *ctx);
/* Whether option LONGNAME was given on the command line. */
int cmd_option_given(const char *longname);
/* Usage line of a command, generated from its table entry. */
char *cmd_usage(const struct cmd_entry *e);
/* The policy file named by --config, or NULL (lib/policy.h then looks at
 * $VCKPT_CONFIG and the default).
 */
const char *cmd_policy_file(void);

/* Findings and reports, printed the same way by every command
 * (print_findings and friends, print.c).
 */
#include "print.h"

#endif
