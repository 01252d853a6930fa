/* vckpt - repair: act on the validator's findings (lib/repair.h). */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "repair.h"
#include "vckpt.h"
#include "virt.h"

static struct {
  char *repo;
  int dry_run;
} opts;

static const struct poptOption repair_options[] = {
  { "repo", '\0', POPT_ARG_STRING, &opts.repo, 1,
    "redefine lost checkpoints from this repository's saved checkpoint XML", "DIR" },
  { "dry-run", '\0', POPT_ARG_NONE, &opts.dry_run, 2,
    "print the plan, change nothing", NULL },
  POPT_TABLEEND
};

/* What a step acts on, in words. */
static char *
step_what(const struct vk_repair_step *st)
{
  CLEANUP_FREE char *img = st->image ? vk_printable(st->image) : NULL;
  CLEANUP_FREE char *file = st->file ? vk_printable(st->file) : NULL;
  switch (st->action) {
  case VK_REPAIR_REMOVE_BITMAP:
    return vk_xasprintf("bitmap '%s' from %s", st->bitmap, img ? img : "?");
  case VK_REPAIR_REDEFINE:
    return vk_xasprintf("checkpoint '%s' from %s", st->checkpoint, file ? file : "?");
  case VK_REPAIR_DELETE_CHECKPOINT:
  case VK_REPAIR_DELETE_METADATA:
    return vk_xasprintf("checkpoint '%s'", st->checkpoint);
  case VK_REPAIR_RECOVER:
    break;
  }
  return vk_xstrdup("an interrupted overlay or commit");
}

static void
print_plan(const struct vk_repair_plan *p)
{
  for (size_t i = 0; i < p->n; i++) {
    const struct vk_repair_step *st = &p->s[i];
    CLEANUP_FREE char *what = step_what(st);
    CLEANUP_FREE char *why = vk_printable_text(st->why);
    vk_printf("%-8s %-27s %-5s %s\n        why: %s%s%s\n", vk_repair_state_name(st->state),
              vk_repair_action_name(st->action), st->disk ? st->disk : "-", what,
              st->code ? st->code : "", st->code ? ": " : "", why);
    if (st->error) {
      CLEANUP_FREE char *e = vk_printable_text(st->error);
      vk_printf("        %s: %s\n", st->state == VK_REPAIR_REFUSED ? "refused" : "error", e);
    }
  }
  for (size_t i = 0; i < p->nr_left; i++) {
    CLEANUP_FREE char *msg = vk_printable_text(p->left[i].message);
    vk_printf("%-8s %-27s %-5s %s\n        fix: %s (repair leaves it)\n", "left",
              p->left[i].code, p->left[i].disk ? p->left[i].disk : "-", msg, p->left[i].fix);
  }
  if (p->need_full) {
    CLEANUP_FREE char *r = vk_printable_text(p->full_reason);
    vk_printf("Next backup: a new full chain (vckpt backup --auto or --full): %s\n", r);
  }
  if (p->n == 0)
    vk_printf("Nothing to repair in %s%s\n", p->domain,
              p->nr_left ? " that repair can fix" : "");
  else if (p->dry_run)
    vk_printf("Dry run: %zu step%s planned for %s, nothing changed\n", p->n,
              p->n == 1 ? "" : "s", p->domain);
  else
    vk_printf("%s: %zu step%s done, %zu failed, %zu refused\n",
              p->failed ? "FAILED" : p->refused ? "REFUSED" : "Repaired", p->done,
              p->done == 1 ? "" : "s", p->failed, p->refused);
}

static int
cmd_repair(struct cmd_ctx *ctx, int argc, const char **argv)
{
  const char *domname = argv[0];
  (void)argc;
  vk_set_context("repair %s", domname);
  if (vk_check_lookup_name("domain", domname) < 0)
    return -1;
  virConnectPtr conn = ctx_connect(ctx);
  if (!conn)
    return -1;
  CLEANUP_DOMAIN virDomainPtr dom = vk_domain_lookup(conn, domname);
  if (!dom)
    return -1;
  struct vk_repair_request req = { .repo_dir = opts.repo, .dry_run = opts.dry_run };
  struct vk_repair_plan plan;
  if (vk_repair(conn, dom, &req, &plan) < 0)
    return -1;
  if (vk_json)
    vk_out_json(vk_repair_json(&plan));
  else
    print_plan(&plan);
  int r = 0;
  if (plan.failed || plan.refused || vk_error_reported()) {
    /* The steps are the output: write them, then fail. */
    if (vk_out_flush() == 0 && !vk_error_reported()) {
      if (plan.failed)
        vk_error(VK_EXIT_FAILURE, "%zu repair step%s failed", plan.failed,
                 plan.failed == 1 ? "" : "s");
      else {
        const char *why = "";
        for (size_t i = 0; i < plan.n && !*why; i++)
          if (plan.s[i].state == VK_REPAIR_REFUSED && plan.s[i].error)
            why = plan.s[i].error;
        CLEANUP_FREE char *w = vk_printable_text(why);
        vk_error(VK_EXIT_BUSY, "%zu repair step%s refused: %s", plan.refused,
                 plan.refused == 1 ? "" : "s", w);
      }
    }
    r = -1;
  }
  vk_repair_plan_clear(&plan);
  return r;
}

const struct cmd_entry cmd_repair_entry = {
  .name = "repair",
  .args = "DOMAIN",
  .summary = "Act on the validator's findings: remove stray bitmaps, delete or redefine "
             "checkpoints",
  .options = repair_options,
  .flags = CMD_CONNECTS,
  .min_args = 1, .max_args = 1,
  .exec = cmd_repair,
};
