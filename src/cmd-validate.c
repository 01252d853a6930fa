/* vckpt - validate: the preflight validator as a command. */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "fleet.h"
#include "preflight.h"
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
  int differential;
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
    "every running domain, one after another in this process, with one summary", NULL },
  { "jobs", '\0', POPT_ARG_INT, &opts.jobs, 6,
    "with --all: N > 1 validates N domains at once, each in a vckpt process of its own", "N" },
  { "include-shut-off", '\0', POPT_ARG_NONE, &opts.include_shut_off, 7,
    "with --all: shut-off domains too", NULL },
  { "differential", '\0', POPT_ARG_NONE, &opts.differential, 8,
    "with --repo: validate a differential backup (from the checkpoint of its chain's full "
    "backup)", NULL },
  POPT_TABLEEND
};
static const char *const validate_exclusive[] = { "checkpoint", "full", "differential", NULL };

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

/* validate --all: one domain, in this process, in its own unit of work
 * (runall.h): what `vckpt --json validate [--full] [--repo DIR] NAME`
 * would print and report.
 */
static int
validate_one(struct cmd_ctx *ctx, const char *name, json_object **result)
{
  virConnectPtr conn = ctx_connect(ctx);
  if (!conn)
    return -1;
  struct vk_validate_request req = { .domain = name, .full = opts.full, .repo = opts.repo,
                                     .differential = opts.differential };
  struct vk_report rep;
  if (vk_validate_domain(conn, &req, &rep) < 0)
    return -1;
  *result = vk_report_json(&rep);
  int r = 0;
  if (rep.errors) {
    vk_error(VK_EXIT_PREFLIGHT, "%zu problem%s found", rep.errors, rep.errors == 1 ? "" : "s");
    r = -1;
  }
  vk_report_clear(&rep);
  return r;
}

/* validate --all: every running domain (--include-shut-off: every one),
 * one after another in this process, over one connection: validating a
 * domain reads a few files and asks libvirt a few questions, a small part
 * of what starting a vckpt process per domain costs.  --jobs N > 1 runs
 * N child processes at once instead.
 */
static int
validate_all(struct cmd_ctx *ctx)
{
  if (opts.checkpoint || opts.disks) {
    vk_error(VK_EXIT_USAGE, "--%s names one domain's checkpoint or disks: not with --all",
             opts.checkpoint ? "checkpoint" : "disk");
    return -1;
  }
  virConnectPtr conn = ctx_connect(ctx);
  if (!conn)
    return -1;
  CLEANUP_STRV char **names = NULL;
  if (vk_fleet_domains(conn, opts.include_shut_off, &names) < 0)
    return -1;
  /* --jobs N > 1: one vckpt process per domain, N at once, as for the
   * other commands; a domain whose QEMU hangs then holds up only its own.
   */
  struct run_args a = { 0 };
  run_args_add(&a, "validate");
  if (opts.full)
    run_args_add(&a, "--full");
  if (opts.differential)
    run_args_add(&a, "--differential");
  if (opts.repo) {
    run_args_add(&a, "--repo");
    run_args_add(&a, opts.repo);
  }
  struct run_all ra = {
    .verb = "validate", .jobs = opts.jobs, .noun = "valid",
    .header = "ERRORS WARNINGS", .columns = all_columns,
    .run = opts.jobs > 1 ? NULL : validate_one, .args = opts.jobs > 1 ? a.v : NULL,
  };
  int r = run_all(ctx, names, &ra);
  free(a.v);
  return r;
}

static int
cmd_validate(struct cmd_ctx *ctx, int argc, const char **argv)
{
  if (opts.differential && !opts.repo) {
    vk_error(VK_EXIT_USAGE, "--differential needs --repo: its checkpoint is that of the "
             "chain's full backup in the repository");
    return -1;
  }
  if (opts.all)
    return validate_all(ctx);
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
  struct vk_validate_request req = {
    .domain = domname, .checkpoint = opts.checkpoint, .full = opts.full, .disks = disks,
    .repo = opts.repo, .differential = opts.differential,
  };
  struct vk_report rep;
  if (vk_validate_domain(conn, &req, &rep) < 0)
    return -1;
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
  .flags = CMD_CONNECTS | CMD_ALL,
  .min_args = 0, .max_args = 1,
  .exec = cmd_validate,
};
