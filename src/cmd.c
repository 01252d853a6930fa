/* vckpt - the command machinery: table lookup, per-command popt context,
 * option groups, usage line and help, all generated from the command
 * table (commands.c), so that help, --synopsis and dispatch cannot drift.
 * main.c parses the global options and calls cmd_dispatch().
 */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "policy.h"
#include "log.h"
#include "vckpt.h"
#include "virt.h"

static char *opt_uri, *opt_log_file, *opt_config;
static int opt_json, opt_quiet, opt_verbose, opt_syslog;

struct poptOption vk_common_options[] = {
  { "connect", 'c', POPT_ARG_STRING, &opt_uri, CMD_OPT_CONNECT,
    "libvirt connection URI (default: $LIBVIRT_DEFAULT_URI, else libvirt's default)", "URI" },
  { "json", '\0', POPT_ARG_NONE, &opt_json, CMD_OPT_JSON,
    "print results as JSON", NULL },
  { "quiet", 'q', POPT_ARG_NONE, &opt_quiet, CMD_OPT_QUIET,
    "print nothing but errors and requested data", NULL },
  { "verbose", 'v', POPT_ARG_NONE, &opt_verbose, CMD_OPT_VERBOSE,
    "print what is being done on standard error", NULL },
  { "log-file", '\0', POPT_ARG_STRING, &opt_log_file, CMD_OPT_LOG_FILE,
    "append a line per event (start, level, bytes, time, failure, end) to FILE", "FILE" },
  { "syslog", '\0', POPT_ARG_NONE, &opt_syslog, CMD_OPT_SYSLOG,
    "send the same lines to syslog (facility daemon; the journal keeps them)", NULL },
  { "config", '\0', POPT_ARG_STRING, &opt_config, CMD_OPT_CONFIG,
    "policy file (default: $VCKPT_CONFIG, else " VK_CONFIG_DEFAULT ")", "FILE" },
  POPT_TABLEEND
};

const char *
cmd_policy_file(void)
{
  return opt_config && *opt_config ? opt_config : NULL;
}

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

int
cmd_apply_common_options(void)
{
  vk_json = opt_json;
  vk_quiet = opt_quiet;
  vk_verbose = opt_verbose;
  if (opt_log_file || opt_syslog)
    return vk_log_open(opt_log_file, opt_syslog);
  return 0;
}

char **
cmd_child_args(const struct cmd_ctx *ctx, const char *const *args)
{
  size_t nargs = 0;
  while (args[nargs])
    nargs++;
  char **v = vk_xcalloc(14 + nargs, sizeof *v);
  size_t n = 0;
  if (ctx->uri) {
    v[n++] = vk_xstrdup("--connect");
    v[n++] = vk_xstrdup(ctx->uri);
  }
  v[n++] = vk_xstrdup("--json");
  v[n++] = vk_xstrdup("--quiet");
  if (opt_verbose)
    v[n++] = vk_xstrdup("--verbose");
  if (opt_log_file) {
    v[n++] = vk_xstrdup("--log-file");
    v[n++] = vk_xstrdup(opt_log_file);
  }
  if (opt_syslog)
    v[n++] = vk_xstrdup("--syslog");
  if (opt_config) {
    v[n++] = vk_xstrdup("--config");
    v[n++] = vk_xstrdup(opt_config);
  }
  for (size_t i = 0; i < nargs; i++)
    v[n++] = vk_xstrdup(args[i]);
  return v;
}

/* Long names of the command options given, for cmd_option_given(). */
static const char *given[64];
static size_t nr_given;

int
cmd_option_given(const char *longname)
{
  for (size_t i = 0; i < nr_given; i++)
    if (strcmp(given[i], longname) == 0)
      return 1;
  return 0;
}

virConnectPtr
ctx_connect(struct cmd_ctx *ctx)
{
  if (!(ctx->entry->flags & CMD_CONNECTS)) {
    fprintf(stderr, "vckpt: internal error: command '%s' is not CMD_CONNECTS\n",
            ctx->entry->name);
    abort();
  }
  if (!ctx->conn) {
    vk_debug("connecting to %s", ctx->uri ? ctx->uri : "the default URI");
    ctx->conn = vk_connect(ctx->uri);
  }
  return ctx->conn;
}

const struct cmd_entry *
cmd_find(int argc, const char **argv, int *words)
{
  const struct cmd_entry *best = NULL;
  for (size_t i = 0; cmd_table[i]; i++) {
    const char *name = cmd_table[i]->name;
    int w = 0;
    const char *p = name;
    bool match = true;
    while (*p) {
      size_t len = strcspn(p, " ");
      if (w >= argc || strlen(argv[w]) != len || strncmp(argv[w], p, len) != 0) {
        match = false;
        break;
      }
      w++;
      p += len;
      p += strspn(p, " ");
    }
    if (match && (!best || w > *words)) {
      best = cmd_table[i];
      *words = w;
    }
  }
  return best;
}

/* A popt context for a command's options (its own, the common ones, -h). */
static poptContext
cmd_popt_context(const struct cmd_entry *e, int argc, const char **argv)
{
  static struct poptOption table[4];
  static struct poptOption empty[] = { POPT_TABLEEND };
  static struct poptOption help[] = {
    { "help", 'h', POPT_ARG_NONE, NULL, CMD_OPT_HELP, "show this help", NULL },
    POPT_TABLEEND
  };
  struct poptOption t[] = {
    { NULL, '\0', POPT_ARG_INCLUDE_TABLE,
      (void *)(e->options ? e->options : empty), 0, e->options ? "Options:" : NULL, NULL },
    { NULL, '\0', POPT_ARG_INCLUDE_TABLE, vk_common_options, 0, "Common options:", NULL },
    { NULL, '\0', POPT_ARG_INCLUDE_TABLE, help, 0, NULL, NULL },
    POPT_TABLEEND
  };
  memcpy(table, t, sizeof t);
  return poptGetContext(vk_progname, argc, argv, table, 0);
}

/* Find the long name of the command option with value VAL. */
static const char *
option_name(const struct cmd_entry *e, int val)
{
  for (const struct poptOption *o = e->options; o && (o->longName || o->shortName); o++)
    if (o->val == val)
      return o->longName;
  return NULL;
}

/* The variable of the command option LONGNAME, or NULL if E has none. */
static void *
option_arg(const struct cmd_entry *e, const char *longname)
{
  for (const struct poptOption *o = e->options; o && (o->longName || o->shortName); o++)
    if (o->longName && strcmp(o->longName, longname) == 0)
      return o->arg;
  return NULL;
}

/* Count how many of NAMES were given; fill a "--a, --b" list of them. */
static size_t
count_given(const char *const *names, char *buf, size_t len)
{
  size_t n = 0;
  buf[0] = '\0';
  for (size_t i = 0; names && names[i]; i++)
    if (cmd_option_given(names[i])) {
      size_t used = strlen(buf);
      snprintf(buf + used, len - used, "%s--%s", n ? " and " : "", names[i]);
      n++;
    }
  return n;
}

/* Check the option groups of E (exclusive, required_one, required); 0 or -1
 * after a usage error.
 */
static int
check_groups(const struct cmd_entry *e)
{
  char list[256];
  if (count_given(e->exclusive, list, sizeof list) > 1) {
    vk_error(VK_EXIT_USAGE, "%s cannot be used together", list);
    return -1;
  }
  if (e->required_one && count_given(e->required_one, list, sizeof list) != 1) {
    CLEANUP_FREE char *usage = cmd_usage(e);
    if (list[0])
      vk_error(VK_EXIT_USAGE, "%s cannot be used together", list);
    else
      vk_error(VK_EXIT_USAGE, "a mode option is required; usage: %s", usage);
    return -1;
  }
  for (size_t i = 0; e->required && e->required[i]; i++)
    if (!cmd_option_given(e->required[i])) {
      CLEANUP_FREE char *usage = cmd_usage(e);
      vk_error(VK_EXIT_USAGE, "--%s is required; usage: %s", e->required[i], usage);
      return -1;
    }
  return 0;
}

/* The checks of DOMAIN|--all (CMD_ALL), made once here for every such
 * command; 0 or -1 after a usage error.
 */
static int
check_all(const struct cmd_entry *e, int nargs)
{
  if (cmd_option_given("all")) {
    vk_set_context("%s --all", e->name);
    if (nargs > 0) {
      vk_error(VK_EXIT_USAGE, "a domain and --all cannot be used together");
      return -1;
    }
    const int *jobs = option_arg(e, "jobs");
    if (jobs && (*jobs < 1 || *jobs > 64)) {
      vk_error(VK_EXIT_USAGE, "--jobs must be between 1 and 64");
      return -1;
    }
    return 0;
  }
  if (nargs == 0) {
    CLEANUP_FREE char *usage = cmd_usage(e);
    vk_error(VK_EXIT_USAGE, "missing arguments; usage: %s", usage);
    return -1;
  }
  static const char *const with_all[] = { "include-shut-off", "jobs", NULL };
  for (size_t i = 0; with_all[i]; i++)
    if (cmd_option_given(with_all[i])) {
      vk_error(VK_EXIT_USAGE, "--%s goes with --all", with_all[i]);
      return -1;
    }
  return 0;
}

/* The arguments and options after the command's name, for the log. */
static const char **cmd_words;
static int cmd_nwords;

/* Log the start of command E with its arguments and options. */
static void
cmd_log_start(const struct cmd_entry *e)
{
  if (!vk_log_active())
    return;
  char *v[cmd_nwords + 1];
  for (int i = 0; i < cmd_nwords; i++)
    v[i] = (char *)cmd_words[i];
  v[cmd_nwords] = NULL;
  CLEANUP_FREE char *a = vk_strv_join(v, " ");
  vk_log(LOG_INFO, "start: %s%s%s", e->name, cmd_nwords ? " " : "", a);
}

/* Parse a command's options and arguments, then run it. */
static int
run_command(const struct cmd_entry *e, poptContext pc)
{
  int rc;
  bool help = false;

  vk_set_context("%s", e->name);
  while ((rc = poptGetNextOpt(pc)) > 0) {
    if (rc == CMD_OPT_HELP)
      help = true;
    else if (rc < CMD_OPT_CONNECT) {
      const char *name = option_name(e, rc);
      if (name && nr_given < sizeof given / sizeof given[0])
        given[nr_given++] = name;
    }
  }
  if (rc < -1) {
    vk_error(VK_EXIT_USAGE, "%s: %s (try 'vckpt help %s')",
             poptBadOption(pc, POPT_BADOPTION_NOALIAS), poptStrerror(rc), e->name);
    return -1;
  }
  if (cmd_apply_common_options() < 0)
    return -1;
  if (help) {
    help_command(e);
    return 0;
  }

  const char **args = poptGetArgs(pc);
  int nargs = 0;
  while (args && args[nargs])
    nargs++;
  if (e->fix_args && e->fix_args(&nargs, &args) < 0)
    return -1;
  if (nargs < e->min_args || (e->max_args >= 0 && nargs > e->max_args)) {
    CLEANUP_FREE char *usage = cmd_usage(e);
    vk_error(VK_EXIT_USAGE, "%s arguments; usage: %s",
             nargs < e->min_args ? "missing" : "too many", usage);
    return -1;
  }
  if (check_groups(e) < 0 || ((e->flags & CMD_ALL) && check_all(e, nargs) < 0))
    return -1;
  struct cmd_ctx ctx = { .entry = e, .uri = opt_uri };
  cmd_log_start(e);
  int r = e->exec(&ctx, nargs, args);
  if (r < 0 && !vk_error_reported())
    vk_error(VK_EXIT_FAILURE, "failed");
  if (ctx.conn)
    virConnectClose(ctx.conn);
  return r;
}

int
cmd_dispatch(int nargs, const char **args)
{
  int words = 0;
  const struct cmd_entry *e = cmd_find(nargs, args, &words);
  if (!e) {
    bool family = false;
    for (size_t i = 0; cmd_table[i]; i++)
      if (strncmp(cmd_table[i]->name, args[0], strlen(args[0])) == 0 &&
          cmd_table[i]->name[strlen(args[0])] == ' ')
        family = true;
    if (family) {
      if (nargs > 1)
        vk_error(VK_EXIT_USAGE, "unknown command '%s %s'", args[0], args[1]);
      else
        vk_error(VK_EXIT_USAGE, "'%s' needs a subcommand", args[0]);
      help_family(args[0]);
    } else
      vk_error(VK_EXIT_USAGE, "unknown command '%s' (try 'vckpt --help')", args[0]);
    return -1;
  }
  /* popt wants argv[0]: pass the last word of the command name. */
  poptContext pc = cmd_popt_context(e, nargs - words + 1, args + words - 1);
  cmd_words = args + words;
  cmd_nwords = nargs - words;
  int r = run_command(e, pc);
  poptFreeContext(pc);
  return r;
}

/* ---- usage line and help ---- */

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
    /* An option written into the arguments ("DOMAIN|--all") is not
     * repeated.
     */
    if (e->args && o->longName) {
      CLEANUP_FREE char *opt = vk_xasprintf("--%s", o->longName);
      const char *p = strstr(e->args, opt);
      if (p && !p[strlen(opt)])
        continue;
    }
    bool must = false;
    for (size_t i = 0; e->required && e->required[i]; i++)
      must |= strcmp(e->required[i], o->longName) == 0;
    /* An option that may be given again (POPT_ARG_ARGV): "[--repo DIR]...". */
    bool again = (o->argInfo & POPT_ARG_MASK) == POPT_ARG_ARGV;
    fprintf(f, " %s--%s%s%s%s%s", must ? "" : "[", o->longName, o->argDescrip ? " " : "",
            o->argDescrip ? o->argDescrip : "", must ? "" : "]", again ? "..." : "");
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

void
help_synopsis(void)
{
  for (size_t i = 0; cmd_table[i]; i++)
    if (!(cmd_table[i]->flags & CMD_HIDDEN)) {
      CLEANUP_FREE char *u = cmd_usage(cmd_table[i]);
      vk_printf("%s\n", u);
    }
}
