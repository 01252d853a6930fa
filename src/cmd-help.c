/* vckpt - the help command; the texts are generated from the command
 * table by cmd.c, so they cannot drift.
 */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "vckpt.h"

static int opt_synopsis;
static const struct poptOption help_options[] = {
  { "synopsis", '\0', POPT_ARG_NONE, &opt_synopsis, 1,
    "print the usage line of every command (as in the man page)", NULL },
  POPT_TABLEEND
};

/* vckpt help [COMMAND...] */
static int
cmd_help(struct cmd_ctx *ctx, int argc, const char **argv)
{
  if (opt_synopsis) {
    help_synopsis();
    return 0;
  }
  if (argc == 0) {
    help_global();
    return 0;
  }
  int words = 0;
  const struct cmd_entry *e = cmd_find(argc, argv, &words);
  if (!e || words != argc) {
    CLEANUP_FREE char *name = NULL;
    char *v[argc + 1];
    for (int i = 0; i < argc; i++)
      v[i] = (char *)argv[i];
    v[argc] = NULL;
    name = vk_strv_join(v, " ");
    vk_error(VK_EXIT_USAGE, "unknown command '%s' (try 'vckpt --help')", name);
    return -1;
  }
  help_command(e);
  return 0;
}

const struct cmd_entry cmd_help_entry = {
  .name = "help",
  .args = "[COMMAND]",
  .summary = "Show help for vckpt or one of its commands",
  .options = help_options,
  .min_args = 0,
  .max_args = 2,
  .exec = cmd_help,
};
