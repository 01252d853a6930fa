/* vckpt - backup: full, incremental, differential or automatic, into the
 * repository, after the preflight validator.
 */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "copy.h"
#include "engine.h"
#include "fleet.h"
#include "lastrun.h"
#include "log.h"
#include "policy.h"
#include "quiesce.h"
#include "restic.h"
#include "runall.h"
#include "vckpt.h"
#include "virt.h"

static struct {
  int full, differential, autom;
  char *incremental, *repo, *disks, *exclude, *name, *quiesce_arg;
  int quiesce, dry_run, no_validate, keep_checkpoints;
  int all, jobs, include_shut_off;
  int pull, push, compress, copy;
} opts = { .jobs = 1 };

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
    "backup repository (default: $VCKPT_REPO, else " VK_VAR_DIR ")", "DIR" },
  { "disk", '\0', POPT_ARG_STRING, &opts.disks, 6,
    "back up only these disks (default: every writable disk)", "DISK[,DISK...]" },
  { "exclude", '\0', POPT_ARG_STRING, &opts.exclude, 7,
    "leave these disks out", "DISK[,DISK...]" },
  { "name", '\0', POPT_ARG_STRING, &opts.name, 8,
    "name of the checkpoint this backup creates (default: vckpt-TIME)", "NAME" },
  { "quiesce", '\0', POPT_ARG_STRING | POPT_ARGFLAG_OPTIONAL, &opts.quiesce_arg, 9,
    "freeze guest file systems while the backup starts (needs the guest agent; "
    "--quiesce=try: without an agent, warn and make a crash-consistent backup)", NULL },
  { "dry-run", '\0', POPT_ARG_NONE, &opts.dry_run, 10,
    "run the preflight and print the XML, start nothing", NULL },
  { "no-validate", '\0', POPT_ARG_NONE, &opts.no_validate, 11,
    "skip the preflight validator and the free-space estimate (the previous "
    "backup's files are still checked)", NULL },
  { "keep-checkpoints", '\0', POPT_ARG_NONE, &opts.keep_checkpoints, 20,
    "leave the checkpoints earlier backups made (default: delete those no next backup "
    "needs; prune does it later)", NULL },
  { "pull", '\0', POPT_ARG_NONE, &opts.pull, 21,
    "pull mode: QEMU exports the disks over NBD and vckpt copies them (the default for a "
    "remote host, or with --compress)", NULL },
  { "push", '\0', POPT_ARG_NONE, &opts.push, 22,
    "push mode: QEMU writes the backup files itself (the default for a local domain)", NULL },
  { "compress", '\0', POPT_ARG_NONE, &opts.compress, 23,
    "zstd-compressed backup files (a running domain is then backed up in pull mode)", NULL },
  { "copy", '\0', POPT_ARG_NONE, &opts.copy, 24,
    "after the backup, copy the domain's backups to each copy-to of the policy file "
    "(another repository, or restic:REPOSITORY)", NULL },
  { "all", '\0', POPT_ARG_NONE, &opts.all, 12,
    "every running domain, each in its own process, with one summary", NULL },
  { "jobs", '\0', POPT_ARG_INT, &opts.jobs, 13,
    "with --all: back up N domains at once (default 1)", "N" },
  { "include-shut-off", '\0', POPT_ARG_NONE, &opts.include_shut_off, 14,
    "with --all: shut-off domains too", NULL },
  POPT_TABLEEND
};
static const char *const backup_transfer[] = { "pull", "push", NULL };
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
  json_object_object_add(j, "job", vk_json_string(o->job));
  json_object_object_add(j, "compressed", json_object_new_boolean(o->compressed));
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

/* backup --copy: copy DOMAIN's backups from REQ's repository to DEST (a
 * directory, or restic:REPOSITORY with PASSWORD_FILE), say so, and add
 * {"destination", "ok"} to the array OUT.  0, or -1 (reported).
 */
static int
copy_one(const struct vk_backup_request *req, const char *domain, const char *dest,
         const char *password_file, json_object *out)
{
  int r;
  CLEANUP_FREE char *what = NULL;
  if (strncmp(dest, "restic:", 7) == 0) {
    struct vk_restic_request rq = { .where = dest, .password_file = password_file,
                                    .domain = domain };
    struct vk_restic_copied c;
    r = vk_restic_copy(&rq, req->repo_dir, &c);
    if (r == 0) {
      what = vk_xasprintf("snapshot %s", c.snap.id);
      vk_restic_copied_clear(&c);
    }
  } else {
    struct vk_copy_request cq = { .src_repo = req->repo_dir, .dest_repo = dest,
                                  .domain = domain };
    struct vk_copy_result res;
    r = vk_copy(&cq, &res);
    if (r == 0)
      what = vk_xasprintf("%zu backup%s", res.copied, res.copied == 1 ? "" : "s");
    vk_copy_result_clear(&res);
  }
  if (r == 0) {
    vk_log(LOG_INFO, "backup %s: copied to %s (%s)", domain, dest, what);
    if (!vk_json && !vk_quiet)
      vk_printf("Copied to %s: %s\n", dest, what);
  }
  json_object *j = json_object_new_object();
  json_object_object_add(j, "destination", json_object_new_string(dest));
  json_object_object_add(j, "ok", json_object_new_boolean(r == 0));
  json_object_array_add(out, j);
  return r;
}

/* Why this level: the --auto reason, or the mode asked for. */
static const char *
level_why(const struct vk_backup_outcome *o)
{
  if (o->auto_reason)
    return o->auto_reason;
  if (opts.autom)
    return o->since ? "--auto: stacked on the newest backup" : "--auto: a new chain";
  return opts.full ? "--full given" : opts.differential ? "--differential given"
       : "--incremental given";
}

/* The columns of a domain's row in the summary of backup --all. */
static char *
all_columns(json_object *res, int status)
{
  json_object *lv = NULL, *by = NULL;
  const char *level = "-";
  char bytes[32] = "-";
  /* A failed backup's result holds no level or size of its own. */
  if (status != VK_EXIT_OK)
    res = NULL;
  if (res && json_object_object_get_ex(res, "level", &lv) && json_object_is_type(lv, json_type_string))
    level = json_object_get_string(lv);
  if (res && json_object_object_get_ex(res, "bytes", &by) && json_object_is_type(by, json_type_int))
    vk_human_size(json_object_get_int64(by), bytes, sizeof bytes);
  return vk_xasprintf("%-12s %10s", level, bytes);
}

static void
free_config(struct vk_policy_file **cfg)
{
  vk_policy_file_free(*cfg);
}
#define CLEANUP_CONFIG __attribute__((cleanup(free_config)))

/* backup --all: every running domain (--include-shut-off: every one) of
 * every host of the policy file (or of the connection), each in its own
 * vckpt process, --jobs at once (per host).
 */
static int
backup_all(struct cmd_ctx *ctx)
{
  if (opts.incremental || opts.name || opts.disks) {
    vk_error(VK_EXIT_USAGE, "--%s names one domain's checkpoint or disks: not with --all",
             opts.incremental ? "incremental" : opts.name ? "name" : "disk");
    return -1;
  }
  if (opts.repo && !*opts.repo) {
    vk_error(VK_EXIT_USAGE, "--repo is empty");
    return -1;
  }
  /* The policy file: --jobs when not given (each child reads the rest). */
  CLEANUP_CONFIG struct vk_policy_file *cfg = NULL;
  if (vk_policy_load(cmd_policy_file(), &cfg) < 0)
    return -1;
  struct vk_policy pol;
  vk_policy_domain(cfg, "", &pol);
  int jobs = !cmd_option_given("jobs") && pol.jobs > 0 ? pol.jobs : opts.jobs;
  struct run_args a = { 0 };
  run_args_add(&a, "backup");
  run_args_add(&a, opts.full ? "--full" : opts.differential ? "--differential" : "--auto");
  if (opts.repo) {            /* else each domain's from the policy, or the default */
    run_args_add(&a, "--repo");
    run_args_add(&a, opts.repo);
  }
  if (opts.exclude) {
    run_args_add(&a, "--exclude");
    run_args_add(&a, opts.exclude);
  }
  if (opts.quiesce)
    run_args_add(&a, opts.quiesce > 1 ? "--quiesce=try" : "--quiesce");
  if (opts.dry_run)
    run_args_add(&a, "--dry-run");
  if (opts.no_validate)
    run_args_add(&a, "--no-validate");
  if (opts.keep_checkpoints)
    run_args_add(&a, "--keep-checkpoints");
  if (opts.pull || opts.push)
    run_args_add(&a, opts.pull ? "--pull" : "--push");
  if (opts.compress)
    run_args_add(&a, "--compress");
  if (opts.copy)
    run_args_add(&a, "--copy");
  struct run_all ra = {
    .verb = "backup", .args = a.v, .jobs = jobs, .noun = "backed up",
    .header = "LEVEL             BYTES", .columns = all_columns,
  };
  /* Every host of the policy file, or the command's connection. */
  int r = run_all_hosts(ctx, cfg, opts.include_shut_off, cmd_option_given("jobs"), &ra);
  free(a.v);
  return r;
}

/* --quiesce takes an optional "=try".  popt also takes a separate word
 * after it as its value ("--quiesce DOMAIN"): anything but "try" is then
 * the positional argument it swallowed, put back into ARGV (cmd_entry's
 * fix_args).  OPTS.QUIESCE: 0 off, 1 on, 2 try.
 */
static const char *quiesce_argv[2];
static int
quiesce_option(int *argc, const char ***argv)
{
  if (!cmd_option_given("quiesce"))
    return 0;
  const char *v = opts.quiesce_arg;
  opts.quiesce = v && strcmp(v, "try") == 0 ? 2 : 1;
  if (!v || strcmp(v, "try") == 0)
    return 0;
  if (*argc > 0) {
    vk_error(VK_EXIT_USAGE, "--quiesce takes no value but =try (got '%s')", v);
    return -1;
  }
  quiesce_argv[0] = v;
  *argv = quiesce_argv;
  *argc = 1;
  return 0;
}

static int
cmd_backup(struct cmd_ctx *ctx, int argc, const char **argv)
{
  if (opts.all)
    return backup_all(ctx);
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
    .repo_dir = opts.repo,
    .mode = opts.full ? VK_MODE_FULL : opts.incremental ? VK_MODE_INCREMENTAL
          : opts.differential ? VK_MODE_DIFFERENTIAL : VK_MODE_AUTO,
    .since = opts.incremental, .disks = disks, .exclude = exclude, .name = opts.name,
    .quiesce = opts.quiesce > 0, .quiesce_try = opts.quiesce > 1,
    .dry_run = opts.dry_run, .no_validate = opts.no_validate, .quiet = vk_quiet,
    .keep_checkpoints = opts.keep_checkpoints,
    .pull = opts.pull ? 1 : opts.push ? 0 : -1, .compress = opts.compress,
  };
  /* The policy file fills in what the command line leaves out. */
  CLEANUP_CONFIG struct vk_policy_file *cfg = NULL;
  if (vk_policy_load(cmd_policy_file(), &cfg) < 0)
    return -1;
  struct vk_policy pol;
  vk_policy_domain(cfg, domname, &pol);
  vk_backup_apply_policy(&req, &pol);
  /* backup --all --copy runs every domain with --copy: one without a
   * copy-to is backed up all the same, and said so.
   */
  if (opts.copy && !pol.copy_to[0] && !opts.dry_run)
    vk_warn("--copy: the policy file gives domain '%s' no copy-to: nothing is copied",
            domname);

  struct vk_backup_outcome o;
  int r = vk_backup(conn, dom, &req, &o);
  /* --copy: the committed backup goes on to the policy's second places; a
   * failed copy fails the run (the backup stays).
   */
  json_object *copies = NULL;
  if (r == 0 && opts.copy && !opts.dry_run) {
    copies = json_object_new_array();
    for (size_t i = 0; pol.copy_to[i]; i++) {
      int cr = copy_one(&req, domname, pol.copy_to[i], pol.restic_password_file, copies);
      if (cr < 0)
        r = -1;
    }
  }
  if (!opts.dry_run)          /* for status: whether the last attempt failed */
    vk_lastrun_record(conn, req.repo_dir, domname, r == 0 ? o.id : NULL, &o.report);
  if (r == 0 && !opts.dry_run) {
    vk_log(LOG_INFO, "backup %s: level %s%s%s (%s)", domname, vk_level_name(o.level),
           o.since ? " since " : "", o.since ? o.since : "", level_why(&o));
    vk_log(LOG_INFO, "backup %s: backup %s complete: %llu bytes processed, %llu written, "
           "%.1f s", domname, o.id, o.bytes, o.written, o.seconds);
  }
  if (o.auto_reason && !vk_json)
    vk_warn("--auto: starting a new full chain: %s", o.auto_reason);
  if (vk_json) {
    json_object *j = outcome_json(domname, &o, opts.dry_run);
    if (copies)
      json_object_object_add(j, "copies", copies);
    copies = NULL;
    vk_out_json(j);
  } else if (r < 0 && o.report.errors) {
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
  }
  /* -q: nothing on stdout unless something failed. */
  /* A refused or failed backup still shows its findings. */
  if (r < 0 && (vk_json || o.report.errors))
    vk_out_flush();
  if (copies)
    json_object_put(copies);
  vk_backup_outcome_clear(&o);
  return r;
}

const struct cmd_entry cmd_backup_entry = {
  .name = "backup",
  .args = "DOMAIN|--all",
  .summary = "Back up a domain's disks, running or shut off, into the repository (preflight first)",
  .options = backup_options,
  .required_one = backup_modes,
  .exclusive = backup_transfer,
  .flags = CMD_CONNECTS | CMD_ALL,
  .min_args = 0, .max_args = 1,
  .fix_args = quiesce_option,
  .exec = cmd_backup,
};

/* The thaw guard of backup --quiesce (quiesce.h): started by vckpt itself,
 * never by hand.
 */
static int
cmd_quiesce_guard(struct cmd_ctx *ctx, int argc, const char **argv)
{
  vk_set_context("quiesce-guard");
  return vk_quiesce_guard(argv[0], argv[1]);
}

static const struct poptOption quiesce_guard_options[] = {
  POPT_TABLEEND
};

const struct cmd_entry cmd_quiesce_guard_entry = {
  .name = "quiesce-guard",
  .args = "URI UUID",
  .summary = "Internal: thaw a guest if backup --quiesce ends while it is frozen",
  .options = quiesce_guard_options,
  .flags = CMD_HIDDEN,
  .min_args = 2, .max_args = 2,
  .exec = cmd_quiesce_guard,
};
