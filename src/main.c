/* vckpt - entry point: global options, then dispatch to one command. */
#include <config.h>

#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ckpt.h"
#include "vckpt.h"
#include "virt.h"
#include "xml.h"

static char *opt_uri;
static int opt_json, opt_quiet, opt_verbose;

enum { OPT_CONNECT = 0x100, OPT_JSON, OPT_QUIET, OPT_VERBOSE, OPT_VERSION, OPT_HELP };

struct poptOption vk_common_options[] = {
  { "connect", 'c', POPT_ARG_STRING, &opt_uri, OPT_CONNECT,
    "libvirt connection URI (default: $LIBVIRT_DEFAULT_URI, else libvirt's default)", "URI" },
  { "json", '\0', POPT_ARG_NONE, &opt_json, OPT_JSON,
    "print results as JSON", NULL },
  { "quiet", 'q', POPT_ARG_NONE, &opt_quiet, OPT_QUIET,
    "print nothing but errors and requested data", NULL },
  { "verbose", 'v', POPT_ARG_NONE, &opt_verbose, OPT_VERBOSE,
    "print what is being done on standard error", NULL },
  POPT_TABLEEND
};

static struct poptOption global_options[] = {
  { NULL, '\0', POPT_ARG_INCLUDE_TABLE, vk_common_options, 0, NULL, NULL },
  { "version", '\0', POPT_ARG_NONE, NULL, OPT_VERSION, "print the version and exit", NULL },
  { "help", 'h', POPT_ARG_NONE, NULL, OPT_HELP, "show this help", NULL },
  POPT_TABLEEND
};

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

poptContext
cmd_popt_context(const struct cmd_entry *e, int argc, const char **argv)
{
  static struct poptOption table[4];
  static struct poptOption empty[] = { POPT_TABLEEND };
  static struct poptOption help[] = {
    { "help", 'h', POPT_ARG_NONE, NULL, OPT_HELP, "show this help", NULL },
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

/* Parse a command's options and arguments, then run it. */
static int
run_command(const struct cmd_entry *e, int argc, const char **argv)
{
  struct cmd_ctx ctx = { .entry = e };
  poptContext pc = cmd_popt_context(e, argc, argv);
  int rc, r = -1;
  bool help = false;

  vk_set_context("%s", e->name);
  while ((rc = poptGetNextOpt(pc)) > 0) {
    if (rc == OPT_HELP)
      help = true;
    else if (rc < OPT_CONNECT) {
      const char *name = option_name(e, rc);
      if (name && nr_given < sizeof given / sizeof given[0])
        given[nr_given++] = name;
    }
  }
  if (rc < -1) {
    vk_error(VK_EXIT_USAGE, "%s: %s (try 'vckpt help %s')",
             poptBadOption(pc, POPT_BADOPTION_NOALIAS), poptStrerror(rc), e->name);
    goto out;
  }
  vk_json = opt_json;
  vk_quiet = opt_quiet;
  vk_verbose = opt_verbose;
  if (help) {
    help_command(e);
    r = 0;
    goto out;
  }

  const char **args = poptGetArgs(pc);
  int nargs = 0;
  while (args && args[nargs])
    nargs++;
  if (nargs < e->min_args || (e->max_args >= 0 && nargs > e->max_args)) {
    CLEANUP_FREE char *usage = cmd_usage(e);
    vk_error(VK_EXIT_USAGE, "%s arguments; usage: %s",
             nargs < e->min_args ? "missing" : "too many", usage);
    goto out;
  }
  char list[256];
  if (count_given(e->exclusive, list, sizeof list) > 1) {
    vk_error(VK_EXIT_USAGE, "%s cannot be used together", list);
    goto out;
  }
  if (e->required_one && count_given(e->required_one, list, sizeof list) != 1) {
    CLEANUP_FREE char *usage = cmd_usage(e);
    if (list[0])
      vk_error(VK_EXIT_USAGE, "%s cannot be used together", list);
    else
      vk_error(VK_EXIT_USAGE, "a mode option is required; usage: %s", usage);
    goto out;
  }
  for (size_t i = 0; e->required && e->required[i]; i++)
    if (!cmd_option_given(e->required[i])) {
      CLEANUP_FREE char *usage = cmd_usage(e);
      vk_error(VK_EXIT_USAGE, "--%s is required; usage: %s", e->required[i], usage);
      goto out;
    }
  if (opt_uri)
    ctx.uri = opt_uri;
  r = e->exec(&ctx, nargs, args);
  if (r < 0 && !vk_error_reported())
    vk_error(VK_EXIT_FAILURE, "failed");
 out:
  if (ctx.conn)
    virConnectClose(ctx.conn);
  poptFreeContext(pc);
  return r;
}

int
main(int argc, const char **argv)
{
  int rc, r;

  /* Backups and restored images hold a guest's whole disk: whatever
   * vckpt or its qemu-img children create is private (0600, 0700).
   */
  umask(077);
  setlocale(LC_ALL, "");
  /* As libvirt asks of its clients: a closed connection or stdout must be
   * an error we report, not a silent death by SIGPIPE.
   */
  signal(SIGPIPE, SIG_IGN);
  vk_xml_init();
  vk_virt_init();

  poptContext pc = poptGetContext(vk_progname, argc, argv, global_options,
                                  POPT_CONTEXT_POSIXMEHARDER);
  bool help = false, version = false;
  while ((rc = poptGetNextOpt(pc)) > 0) {
    if (rc == OPT_HELP)
      help = true;
    else if (rc == OPT_VERSION)
      version = true;
  }
  if (rc < -1) {
    vk_error(VK_EXIT_USAGE, "%s: %s (try 'vckpt --help')",
             poptBadOption(pc, POPT_BADOPTION_NOALIAS), poptStrerror(rc));
    poptFreeContext(pc);
    return VK_EXIT_USAGE;
  }
  vk_json = opt_json;
  vk_quiet = opt_quiet;
  vk_verbose = opt_verbose;

  const char **args = poptGetArgs(pc);
  int nargs = 0;
  while (args && args[nargs])
    nargs++;

  if (version) {
    unsigned long lib = 0;
    virGetVersion(&lib, NULL, NULL);
    vk_printf("vckpt %s (libvirt %lu.%lu.%lu)\n", PACKAGE_VERSION,
              lib / 1000000, lib / 1000 % 1000, lib % 1000);
    r = 0;
  } else if (help || nargs == 0) {
    r = nargs == 0 && !help ? -1 : 0;
    if (r == 0)
      help_global();
    if (r < 0) {
      vk_out_discard();
      vk_error(VK_EXIT_USAGE, "no command given (try 'vckpt --help')");
    }
  } else {
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
      r = -1;
    } else {
      /* popt wants argv[0]: pass the last word of the command name. */
      r = run_command(e, nargs - words + 1, args + words - 1);
    }
  }
  poptFreeContext(pc);

  if (r == 0)
    r = vk_out_flush();
  else
    vk_out_discard();
  vk_set_context(NULL);
  return r == 0 ? VK_EXIT_OK : vk_exit_status();
}
