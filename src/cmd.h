/* vckpt - the command machinery (cmd.c), as main() and the help command
 * use it.  Handlers need only vckpt.h.
 */
#ifndef VCKPT_CMD_H
#define VCKPT_CMD_H

#include "vckpt.h"

/* popt values of the common and global options; command options use
 * smaller values.
 */
enum {
  CMD_OPT_CONNECT = 0x100, CMD_OPT_JSON, CMD_OPT_QUIET, CMD_OPT_VERBOSE,
  CMD_OPT_VERSION, CMD_OPT_HELP, CMD_OPT_LOG_FILE, CMD_OPT_SYSLOG, CMD_OPT_CONFIG,
};

/* Global options that commands accept too (--json, -q, -v, -c). */
extern struct poptOption vk_common_options[];
/* Set vk_json, vk_quiet, vk_verbose from the common options parsed, and
 * open the log (--log-file, --syslog); 0, or -1 after reporting.
 */
int cmd_apply_common_options(void);

/* The arguments of a child of a run over many domains (fleet.h): the
 * global options as given (-c, -v, --log-file, --syslog, --config), --json --quiet,
 * then the command's own ARGS (NULL-terminated).  A new vector.
 */
char **cmd_child_args(const struct cmd_ctx *ctx, const char *const *args);

/* Find the command named by the first words of ARGV; *WORDS is set to how
 * many words its name took.  NULL if none matches.
 */
const struct cmd_entry *cmd_find(int argc, const char **argv, int *words);
/* Find the command named by ARGS, parse its options, check its option
 * groups and argument count, and run it: 0, or -1 after reporting.
 */
int cmd_dispatch(int nargs, const char **args);

/* Help texts, written to the pending output. */
void help_global(void);
void help_command(const struct cmd_entry *e);
/* Every command's usage line (vckpt help --synopsis, the man SYNOPSIS). */
void help_synopsis(void);
/* List on stderr the commands whose name starts with PREFIX (after
 * "vckpt checkpoint" with no subcommand).
 */
void help_family(const char *prefix);

#endif
