/* vckpt - backup: full, incremental, differential or automatic, into the
 * repository, after the preflight validator.
 */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "vckpt.h"
#include "virt.h"

static struct {
  int full, differential, autom;
  char *incremental, *repo, *disks, *exclude, *name;
  int quiesce, dry_run, no_validate;
} opts;

static const struct poptOption backup_options[] = {
  { "full", '\0', POPT_ARG_NONE, &opts.full, 1,
    "copy every disk whole; starts a new chain", NULL },
  { "incremental", '\0', POPT_ARG_STRING, &opts.incremental, 2,
    "copy what changed since checkpoint CHK, stacked on the backup that ended there", "CHK" },
  { "differential", '\0', POPT_ARG_NONE, &opts.differential, 3,
    "copy what changed since the full backup of the newest chain", NULL },
  { "auto", '\0', POPT_ARG_NONE, &opts.autom, 4,
    "incremental from the newest backup, or a new full chain when that is not possible", NULL },
  { "repo", '\0', POPT_ARG_STRING, &opts.repo, 5,
    "backup repository (default: $VCKPT_REPO, else /var/lib/vckpt)", "DIR" },
  { "disk", '\0', POPT_ARG_STRING, &opts.disks, 6,
    "back up only these disks (default: every writable disk)", "DISK[,DISK...]" },
  { "exclude", '\0', POPT_ARG_STRING, &opts.exclude, 7,
    "leave these disks out", "DISK[,DISK...]" },
  { "name", '\0', POPT_ARG_STRING, &opts.name, 8,
    "name of the checkpoint this backup creates (default: vckpt-TIME)", "NAME" },
  { "quiesce", '\0', POPT_ARG_NONE, &opts.quiesce, 9,
    "freeze guest file systems while the backup starts (needs the guest agent)", NULL },
  { "dry-run", '\0', POPT_ARG_NONE, &opts.dry_run, 10,
    "run the preflight and print the XML, start nothing", NULL },
  { "no-validate", '\0', POPT_ARG_NONE, &opts.no_validate, 11,
    "skip the preflight validator and the free-space estimate (the previous "
    "backup's files are still checked)", NULL },
  POPT_TABLEEND
};
static const char *const backup_modes[] = { "full", "incremental", "differential", "auto", NULL };

static json_object *
outcome_json(const char *domname, const struct vk_backup_outcome *o, bool dry)
{
  json_object *j = json_object_new_object();
  json_object_object_add(j, "domain", json_object_new_string(domname));
  json_object_object_add(j, "level", json_object_new_string(vk_level_name(o->level)));
  json_object_object_add(j, "id", vk_json_string(o->id));
  json_object_object_add(j, "chain", vk_json_string(o->chain));
  json_object_object_add(j, "checkpoint", vk_json_string(o->checkpoint));
  json_object_object_add(j, "since", vk_json_string(o->since));
  json_object_object_add(j, "auto_reason", vk_json_string(o->auto_reason));
  json_object_object_add(j, "dry_run", json_object_new_boolean(dry));
  if (!dry) {
    json_object_object_add(j, "bytes", json_object_new_int64(o->bytes));
    json_object_object_add(j, "written", json_object_new_int64(o->written));
    json_object_object_add(j, "seconds", json_object_new_double(o->seconds));
  } else {
    json_object_object_add(j, "backup_xml", vk_json_string(o->backup_xml));
    json_object_object_add(j, "checkpoint_xml", vk_json_string(o->checkpoint_xml));
  }
  json_object_object_add(j, "preflight", vk_report_json(&o->report));
  return j;
}

static int
cmd_backup(struct cmd_ctx *ctx, int argc, const char **argv)
{
  const char *domname = argv[0];
  CLEANUP_STRV char **disks = NULL;
  CLEANUP_STRV char **exclude = NULL;

  vk_set_context("backup %s", domname);
  if ((opts.disks && vk_split_list("disk", opts.disks, &disks) < 0) ||
      (opts.exclude && vk_split_list("disk", opts.exclude, &exclude) < 0) ||
      (opts.incremental && vk_check_lookup_name("checkpoint", opts.incremental) < 0) ||
      (opts.name && vk_check_name("checkpoint", opts.name) < 0))
    return -1;
  if (opts.repo && !*opts.repo) {
    vk_error(VK_EXIT_USAGE, "--repo is empty");
    return -1;
  }
  virConnectPtr conn = ctx_connect(ctx);
  if (!conn)
    return -1;
  CLEANUP_DOMAIN virDomainPtr dom = vk_domain_lookup(conn, domname);
  if (!dom)
    return -1;

  struct vk_backup_request req = {
    .repo_dir = vk_default_repo(opts.repo),
    .mode = opts.full ? VK_MODE_FULL : opts.incremental ? VK_MODE_INCREMENTAL
          : opts.differential ? VK_MODE_DIFFERENTIAL : VK_MODE_AUTO,
    .since = opts.incremental, .disks = disks, .exclude = exclude, .name = opts.name,
    .quiesce = opts.quiesce, .dry_run = opts.dry_run, .no_validate = opts.no_validate,
    .quiet = vk_quiet,
  };
  struct vk_backup_outcome o;
  int r = vk_backup(conn, dom, &req, &o);
  if (o.auto_reason && !vk_json)
    vk_warn("--auto: starting a new full chain: %s", o.auto_reason);
  if (vk_json)
    vk_out_json(outcome_json(domname, &o, opts.dry_run));
  else if (r < 0 && o.report.errors) {
    print_findings(&o.report);
  } else if (r == 0 && opts.dry_run) {
    print_findings(&o.report);
    CLEANUP_FREE char *whole = o.report.whole ? vk_strv_join(o.report.whole, ", ") : NULL;
    vk_printf("Dry run: would take a %s backup%s%s of %s%s%s%s, creating checkpoint %s\n",
              vk_level_name(o.level), o.since ? " since checkpoint " : "", o.since ? o.since : "",
              domname, whole ? " (copied whole: " : "", whole ? whole : "", whole ? ")" : "",
              o.checkpoint);
    vk_printf("\nBackup XML:\n%s\nCheckpoint XML:\n%s", o.backup_xml, o.checkpoint_xml);
  } else if (r == 0 && !vk_quiet) {
    char b[32], w[32], rate[32];
    vk_human_size(o.bytes, b, sizeof b);
    vk_human_size(o.written, w, sizeof w);
    vk_human_size(o.seconds > 0 ? o.bytes / o.seconds : 0, rate, sizeof rate);
    CLEANUP_FREE char *whole = o.report.whole ? vk_strv_join(o.report.whole, ", ") : NULL;
    vk_printf("Backup %s of %s complete: %s%s%s%s%s%s, checkpoint %s; %s processed, %s written, "
              "in %.1f s (%s/s)\n", o.id, domname, vk_level_name(o.level),
              o.since ? " since " : "", o.since ? o.since : "",
              whole ? " (copied whole: " : "", whole ? whole : "", whole ? ")" : "",
              o.checkpoint, b, w, o.seconds, rate);
  } else if (r == 0)
    vk_printf("%s\n", o.id);
  /* A refused or failed backup still shows its findings. */
  if (r < 0 && (vk_json || o.report.errors))
    vk_out_flush();
  vk_backup_outcome_clear(&o);
  return r;
}

const struct cmd_entry cmd_backup_entry = {
  .name = "backup",
  .args = "DOMAIN",
  .summary = "Back up a running domain's disks into the repository (preflight first)",
  .options = backup_options,
  .required_one = backup_modes,
  .flags = CMD_CONNECTS,
  .min_args = 1, .max_args = 1,
  .exec = cmd_backup,
};
