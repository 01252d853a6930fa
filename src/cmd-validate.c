/* vckpt - validate: the preflight validator as a command. */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "validate.h"
#include "vckpt.h"
#include "virt.h"

static struct {
  char *checkpoint;
  int full;
  char *disks;
  char *repo;
} opts;

static const struct poptOption validate_options[] = {
  { "checkpoint", '\0', POPT_ARG_STRING, &opts.checkpoint, 1,
    "validate an incremental backup from this checkpoint (default: the newest)", "NAME" },
  { "full", '\0', POPT_ARG_NONE, &opts.full, 2,
    "validate a full backup (no bitmap rules)", NULL },
  { "disk", '\0', POPT_ARG_STRING, &opts.disks, 3,
    "only these disks (default: every disk)", "DISK[,DISK...]" },
  { "repo", '\0', POPT_ARG_STRING, &opts.repo, 4,
    "also check the repository a backup would use: previous backup, space", "DIR" },
  POPT_TABLEEND
};
static const char *const validate_exclusive[] = { "checkpoint", "full", NULL };

static int
cmd_validate(struct cmd_ctx *ctx, int argc, const char **argv)
{
  const char *domname = argv[0];
  vk_set_context("validate %s", domname);
  CLEANUP_STRV char **disks = NULL;
  if (opts.checkpoint && vk_check_lookup_name("checkpoint", opts.checkpoint) < 0)
    return -1;
  if (opts.disks && vk_split_list("disk", opts.disks, &disks) < 0)
    return -1;
  virConnectPtr conn = ctx_connect(ctx);
  if (!conn)
    return -1;
  CLEANUP_DOMAIN virDomainPtr dom = vk_domain_lookup(conn, domname);
  if (!dom)
    return -1;
  /* With --repo, what tonight's --auto would do: an incremental from the
   * repository's newest backup, or a full backup when it has none.
   */
  CLEANUP_FREE char *next = NULL;
  bool full = opts.full;
  if (opts.repo && !opts.checkpoint && !opts.full) {
    if (vk_repo_next_since(opts.repo, domname, &next) < 0)
      return -1;
    full = !next;
  }
  struct vk_validate_opts vo = {
    .checkpoint = opts.checkpoint ? opts.checkpoint : next, .full = full, .disks = disks,
  };
  struct vk_report rep;
  if (vk_validate(dom, &vo, &rep) < 0)
    return -1;
  if (opts.repo && vk_repo_preflight(dom, opts.repo, full ? NULL : rep.checkpoint,
                                     disks, &rep) < 0) {
    vk_report_clear(&rep);
    return -1;
  }
  if (vk_json)
    vk_out_json(vk_report_json(&rep));
  else
    print_preflight_report(&rep);
  int r = 0;
  if (rep.errors) {
    /* The report is the output: write it, then fail with the preflight code. */
    if (vk_out_flush() == 0)
      vk_error(VK_EXIT_PREFLIGHT, "%zu problem%s found", rep.errors,
               rep.errors == 1 ? "" : "s");
    r = -1;
  }
  vk_report_clear(&rep);
  return r;
}

const struct cmd_entry cmd_validate_entry = {
  .name = "validate",
  .args = "DOMAIN",
  .summary = "Check, before a backup, that its checkpoint's bitmaps and images are sound",
  .options = validate_options,
  .exclusive = validate_exclusive,
  .flags = CMD_CONNECTS,
  .min_args = 1, .max_args = 1,
  .exec = cmd_validate,
};
