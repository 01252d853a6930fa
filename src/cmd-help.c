/* vckpt - help: generated from the command table, so it cannot drift. */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "vckpt.h"

/* One line per exit status; the man page and README list the same. */
static const struct { int code; const char *meaning; } exit_codes[] = {
  { VK_EXIT_OK, "success (validate: a backup would succeed)" },
  { VK_EXIT_FAILURE, "libvirt or operation failure" },
  { VK_EXIT_USAGE, "usage error: bad option, argument or name" },
  { VK_EXIT_NOT_FOUND, "domain, checkpoint, disk or file not found" },
  { VK_EXIT_PREFLIGHT, "preflight validation refused the operation" },
  { VK_EXIT_BUSY, "busy: another job or vckpt run holds the domain" },
  { VK_EXIT_INTERRUPTED, "interrupted by a signal; the operation was rolled back" },
};

char *
cmd_usage(const struct cmd_entry *e)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f)
    abort();
  fprintf(f, "vckpt %s", e->name);
  if (e->args && *e->args)
    fprintf(f, " %s", e->args);

  /* Required one-of group first, then options, exclusive groups in place. */
  bool done_excl = false, done_req = false;
  for (const struct poptOption *o = e->options; o && (o->longName || o->shortName); o++) {
    const char *const *group = NULL;
    bool req = false;
    for (size_t i = 0; e->exclusive && e->exclusive[i]; i++)
      if (strcmp(e->exclusive[i], o->longName) == 0)
        group = e->exclusive;
    for (size_t i = 0; e->required_one && e->required_one[i]; i++)
      if (strcmp(e->required_one[i], o->longName) == 0)
        group = e->required_one, req = true;
    if (group) {
      bool *done = req ? &done_req : &done_excl;
      if (*done)
        continue;
      *done = true;
      fputs(req ? " (" : " [", f);
      for (size_t i = 0; group[i]; i++) {
        const struct poptOption *g = e->options;
        while (g->longName && strcmp(g->longName, group[i]) != 0)
          g++;
        fprintf(f, "%s--%s", i ? " | " : "", group[i]);
        if (g->argDescrip)
          fprintf(f, " %s", g->argDescrip);
      }
      fputs(req ? ")" : "]", f);
      continue;
    }
    bool must = false;
    for (size_t i = 0; e->required && e->required[i]; i++)
      must |= strcmp(e->required[i], o->longName) == 0;
    fprintf(f, " %s--%s%s%s%s", must ? "" : "[", o->longName, o->argDescrip ? " " : "",
            o->argDescrip ? o->argDescrip : "", must ? "" : "]");
  }
  fclose(f);
  return buf;
}

void
help_global(void)
{
  vk_printf("Usage: vckpt [OPTIONS] COMMAND [ARGS...]\n\n"
            "Manage libvirt checkpoints and incremental backups of QEMU/KVM domains.\n\n"
            "Commands:\n");
  for (size_t i = 0; cmd_table[i]; i++)
    if (!(cmd_table[i]->flags & CMD_HIDDEN))
      vk_printf("  %-22s %s\n", cmd_table[i]->name, cmd_table[i]->summary);
  vk_printf("\nOptions:\n");
  for (const struct poptOption *o = vk_common_options; o->longName; o++) {
    char opt[64];
    if (o->shortName)
      snprintf(opt, sizeof opt, "-%c, --%s%s%s", o->shortName, o->longName,
               o->argDescrip ? " " : "", o->argDescrip ? o->argDescrip : "");
    else
      snprintf(opt, sizeof opt, "    --%s%s%s", o->longName,
               o->argDescrip ? " " : "", o->argDescrip ? o->argDescrip : "");
    vk_printf("  %-22s %s\n", opt, o->descrip);
  }
  vk_printf("  %-22s %s\n  %-22s %s\n", "    --version", "print the version and exit",
            "-h, --help", "show this help");
  vk_printf("\nExit status:\n");
  for (size_t i = 0; i < sizeof exit_codes / sizeof exit_codes[0]; i++)
    vk_printf("  %d  %s\n", exit_codes[i].code, exit_codes[i].meaning);
  vk_printf("\nRun 'vckpt help COMMAND' for the options of a command; see vckpt(1).\n");
}

void
help_command(const struct cmd_entry *e)
{
  CLEANUP_FREE char *usage = cmd_usage(e);
  const char *argv[] = { e->name, NULL };
  poptContext pc = cmd_popt_context(e, 1, argv);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f)
    abort();
  poptPrintHelp(pc, f, 0);
  fclose(f);
  poptFreeContext(pc);
  /* Drop popt's own "Usage:" line; ours is generated from the table. */
  const char *body = strchr(buf, '\n');
  body = body ? body + strspn(body, "\n") : "";
  vk_printf("Usage: %s\n\n%s.\n\n%s", usage, e->summary, body);
  free(buf);
}

void
help_family(const char *prefix)
{
  fprintf(stderr, "'%s' commands:\n", prefix);
  for (size_t i = 0; cmd_table[i]; i++) {
    const char *n = cmd_table[i]->name;
    if (strncmp(n, prefix, strlen(prefix)) == 0 && n[strlen(prefix)] == ' ')
      fprintf(stderr, "  %-22s %s\n", n, cmd_table[i]->summary);
  }
}

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
    for (size_t i = 0; cmd_table[i]; i++)
      if (!(cmd_table[i]->flags & CMD_HIDDEN)) {
        CLEANUP_FREE char *u = cmd_usage(cmd_table[i]);
        vk_printf("%s\n", u);
      }
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
