/* vckpt - validate: the preflight validator as a command. */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "fleet.h"
#include "runall.h"
#include "validate.h"
#include "vckpt.h"
#include "virt.h"

static struct {
  char *checkpoint;
  int full;
  char *disks;
  char *repo;
  int all, jobs, include_shut_off;
} opts = { .jobs = 1 };

static const struct poptOption validate_options[] = {
  { "checkpoint", '\0', POPT_ARG_STRING, &opts.checkpoint, 1,
    "validate an incremental backup from this checkpoint (default: the newest)", "NAME" },
  { "full", '\0', POPT_ARG_NONE, &opts.full, 2,
    "validate a full backup (no bitmap rules)", NULL },
  { "disk", '\0', POPT_ARG_STRING, &opts.disks, 3,
    "only these disks (default: every disk)", "DISK[,DISK...]" },
  { "repo", '\0', POPT_ARG_STRING, &opts.repo, 4,
    "also check the repository a backup would use: previous backup, space", "DIR" },
  { "all", '\0', POPT_ARG_NONE, &opts.all, 5,
    "every running domain, each in its own process, with one summary", NULL },
  { "jobs", '\0', POPT_ARG_INT, &opts.jobs, 6,
    "with --all: validate N domains at once (default 1)", "N" },
  { "include-shut-off", '\0', POPT_ARG_NONE, &opts.include_shut_off, 7,
    "with --all: shut-off domains too", NULL },
  POPT_TABLEEND
};
static const char *const validate_exclusive[] = { "checkpoint", "full", NULL };

/* The columns of a domain's row in the summary of validate --all. */
static char *
all_columns(json_object *res, int status)
{
  json_object *e = NULL, *w = NULL;
  if (!res || !json_object_object_get_ex(res, "errors", &e) ||
      !json_object_object_get_ex(res, "warnings", &w))
    return vk_xasprintf("%6s %8s", "-", "-");
  return vk_xasprintf("%6lld %8lld", (long long)json_object_get_int64(e),
                      (long long)json_object_get_int64(w));
}

/* validate --all: every running domain (--include-shut-off: every one). */
static int
validate_all(struct cmd_ctx *ctx, int argc)
{
  vk_set_context("validate --all");
  if (argc > 0) {
    vk_error(VK_EXIT_USAGE, "a domain and --all cannot be used together");
    return -1;
  }
  if (opts.checkpoint || opts.disks) {
    vk_error(VK_EXIT_USAGE, "--%s names one domain's checkpoint or disks: not with --all",
             opts.checkpoint ? "checkpoint" : "disk");
    return -1;
  }
  if (opts.jobs < 1 || opts.jobs > 64) {
    vk_error(VK_EXIT_USAGE, "--jobs must be between 1 and 64");
    return -1;
  }
  virConnectPtr conn = ctx_connect(ctx);
  if (!conn)
    return -1;
  CLEANUP_STRV char **names = NULL;
  if (vk_fleet_domains(conn, opts.include_shut_off, &names) < 0)
    return -1;
  const char *args[6];
  size_t n = 0;
  args[n++] = "validate";
  if (opts.full)
    args[n++] = "--full";
  if (opts.repo) {
    args[n++] = "--repo";
    args[n++] = opts.repo;
  }
  args[n] = NULL;
  struct run_all ra = {
    .verb = "validate", .args = args, .jobs = opts.jobs, .noun = "valid",
    .header = "ERRORS WARNINGS", .columns = all_columns,
  };
  return run_all(ctx, names, &ra);
}

static int
cmd_validate(struct cmd_ctx *ctx, int argc, const char **argv)
{
  if (opts.all)
    return validate_all(ctx, argc);
  if (argc == 0) {
    CLEANUP_FREE char *usage = cmd_usage(ctx->entry);
    vk_error(VK_EXIT_USAGE, "missing arguments; usage: %s", usage);
    return -1;
  }
  if (cmd_option_given("jobs") || opts.include_shut_off) {
    vk_error(VK_EXIT_USAGE, "--%s goes with --all",
             opts.include_shut_off ? "include-shut-off" : "jobs");
    return -1;
  }
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
  .args = "DOMAIN|--all",
  .summary = "Check, before a backup, that its checkpoint's bitmaps and images are sound",
  .options = validate_options,
  .exclusive = validate_exclusive,
  .flags = CMD_CONNECTS,
  .min_args = 0, .max_args = 1,
  .exec = cmd_validate,
};
