/* vckpt - the help command; the texts are generated from the command
 * table by cmd.c, so they cannot drift.
 */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "checkpoint-xml.h"
#include "cmd.h"
#include "engine.h"
#include "fleet.h"
#include "repo.h"
#include "vckpt.h"
#include "virt.h"

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

/* ---- complete: the words bash completion offers (hidden) ---- */

static char *complete_repo;
static const struct poptOption complete_options[] = {
  { "repo", '\0', POPT_ARG_STRING, &complete_repo, 1,
    "backup repository, for 'backups'", "DIR" },
  POPT_TABLEEND
};

/* Print the long options of table T, one a line; with ARGS, only those
 * that take an argument, followed by its name ("--repo DIR").
 */
static void
print_options(const struct poptOption *t, bool args)
{
  for (const struct poptOption *o = t; o && (o->longName || o->shortName || o->arg); o++) {
    if (o->argInfo == POPT_ARG_INCLUDE_TABLE)
      print_options(o->arg, args);
    else if (o->longName && !args)
      vk_printf("--%s\n", o->longName);
    else if (o->longName && o->argDescrip)
      vk_printf("--%s %s\n", o->longName, o->argDescrip);
  }
}

/* vckpt complete commands | options [COMMAND...] | argoptions | domains |
 * repodomains [--repo DIR] | checkpoints DOMAIN | backups DOMAIN [--repo
 * DIR]: one word a line, for
 * contrib/bash-completion/vckpt.  Names that bash could not take as one
 * word (control characters) are left out.
 */
static int
cmd_complete(struct cmd_ctx *ctx, int argc, const char **argv)
{
  const char *what = argv[0];
  vk_set_context("complete %s", what);
  if (strcmp(what, "commands") == 0) {
    for (size_t i = 0; cmd_table[i]; i++)
      if (!(cmd_table[i]->flags & CMD_HIDDEN))
        vk_printf("%s\n", cmd_table[i]->name);
    return 0;
  }
  if (strcmp(what, "options") == 0) {
    int words = 0;
    const struct cmd_entry *e = argc > 1 ? cmd_find(argc - 1, argv + 1, &words) : NULL;
    if (e && !(e->flags & CMD_HIDDEN))
      print_options(e->options, false);
    print_options(vk_common_options, false);
    vk_printf("--help\n");
    if (!e)
      vk_printf("--version\n");
    return 0;
  }
  if (strcmp(what, "argoptions") == 0) {
    for (size_t i = 0; cmd_table[i]; i++)
      print_options(cmd_table[i]->options, true);
    print_options(vk_common_options, true);
    return 0;
  }
  CLEANUP_STRV char **names = NULL;
  if (strcmp(what, "domains") == 0) {
    virConnectPtr conn = ctx_connect(ctx);
    if (!conn || vk_fleet_domains(conn, true, &names) < 0)
      return -1;
  } else if (strcmp(what, "repodomains") == 0) {
    if (vk_fleet_repo_domains(vk_default_repo(complete_repo), &names) < 0)
      return -1;
  } else if (strcmp(what, "checkpoints") == 0 && argc == 2) {
    virConnectPtr conn = ctx_connect(ctx);
    if (!conn)
      return -1;
    CLEANUP_DOMAIN virDomainPtr dom = vk_domain_lookup(conn, argv[1]);
    struct vk_ckpt_list l = { 0 };
    if (!dom || vk_ckpt_list_all(dom, 0, &l) < 0)
      return -1;
    names = vk_xcalloc(l.n + 1, sizeof *names);
    for (size_t i = 0; i < l.n; i++)
      names[i] = vk_xstrdup(l.c[i].name);
    vk_ckpt_list_clear(&l);
  } else if (strcmp(what, "backups") == 0 && argc == 2) {
    struct vk_repo *repo = NULL;
    if (vk_repo_open(vk_default_repo(complete_repo), argv[1], false, false, &repo) < 0)
      return -1;
    const struct vk_manifest *m = vk_repo_manifest(repo);
    names = vk_xcalloc(2 * m->nr_backups + 1, sizeof *names);
    size_t n = 0;
    for (size_t i = 0; i < m->nr_backups; i++) {
      names[n++] = vk_xstrdup(m->backups[i].id);
      if (m->backups[i].checkpoint)
        names[n++] = vk_xstrdup(m->backups[i].checkpoint);
    }
    vk_repo_close(repo);
  } else {
    vk_error(VK_EXIT_USAGE, "complete what? commands, options [COMMAND], argoptions, "
             "domains, repodomains, checkpoints DOMAIN, backups DOMAIN");
    return -1;
  }
  for (size_t i = 0; names[i]; i++) {
    bool ok = true;
    for (const char *p = names[i]; *p; p++)
      ok &= (unsigned char)*p >= 0x20 && *p != 0x7f;
    if (ok)
      vk_printf("%s\n", names[i]);
  }
  return 0;
}

const struct cmd_entry cmd_complete_entry = {
  .name = "complete",
  .args = "WHAT [ARG...]",
  .summary = "Words for bash completion (commands, options, domains, checkpoints, backups)",
  .options = complete_options,
  .flags = CMD_CONNECTS | CMD_HIDDEN,
  .min_args = 1, .max_args = -1,
  .exec = cmd_complete,
};
