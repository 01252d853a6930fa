/* vckpt - prune: retention of a domain's backups (lib/prune.h). */
#include <config.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "policy.h"
#include "engine.h"
#include "fleet.h"
#include "log.h"
#include "prune.h"
#include "restic.h"
#include "runall.h"
#include "vckpt.h"

static struct {
  char *repo, *within, *from, *password_file;
  int last, hourly, daily, weekly, monthly, yearly;
  int dry_run, all, jobs;
} po = { .jobs = 1, .last = -1, .hourly = -1, .daily = -1, .weekly = -1, .monthly = -1, .yearly = -1 };

static const struct poptOption prune_options[] = {
  { "repo", '\0', POPT_ARG_STRING, &po.repo, 1,
    "backup repository (default: the policy file's, $VCKPT_REPO, else " VK_VAR_DIR ")", "DIR" },
  { "keep-last", '\0', POPT_ARG_INT, &po.last, 2, "keep the N newest backups", "N" },
  { "keep-hourly", '\0', POPT_ARG_INT, &po.hourly, 3,
    "keep the newest backup of each of the last N hours that have backups", "N" },
  { "keep-daily", '\0', POPT_ARG_INT, &po.daily, 4,
    "keep the newest backup of each of the last N days that have backups", "N" },
  { "keep-weekly", '\0', POPT_ARG_INT, &po.weekly, 5,
    "keep the newest backup of each of the last N ISO weeks that have backups", "N" },
  { "keep-monthly", '\0', POPT_ARG_INT, &po.monthly, 6,
    "keep the newest backup of each of the last N months that have backups", "N" },
  { "keep-yearly", '\0', POPT_ARG_INT, &po.yearly, 7,
    "keep the newest backup of each of the last N years that have backups", "N" },
  { "keep-within", '\0', POPT_ARG_STRING, &po.within, 8,
    "keep every backup made within DURATION (1y2m3w4d5h) before the newest", "DURATION" },
  { "dry-run", '\0', POPT_ARG_NONE, &po.dry_run, 9,
    "print the plan (what each rule keeps, what is merged into what), change nothing", NULL },
  { "all", '\0', POPT_ARG_NONE, &po.all, 10,
    "every domain that has backups in the repository, with one summary", NULL },
  { "jobs", '\0', POPT_ARG_INT, &po.jobs, 11,
    "with --all: prune N domains at once (default 1)", "N" },
  { "from", '\0', POPT_ARG_STRING, &po.from, 12,
    "the copies in this restic repository (vckpt copy): restic forget and prune",
    "restic:REPOSITORY" },
  { "password-file", '\0', POPT_ARG_STRING, &po.password_file, 13,
    "with --from: restic's password in FILE (default: restic's RESTIC_PASSWORD_FILE...)",
    "FILE" },
  POPT_TABLEEND
};

/* A backup's time as the rules see it: UTC. */
static void
utc(long long t, char *buf, size_t len)
{
  time_t tt = t;
  struct tm tm;
  if (!gmtime_r(&tt, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    snprintf(buf, len, "%lld", t);
}

/* What happens to point P, in words. */
static char *
action(const struct vk_prune_point *p)
{
  if (p->reasons)
    return p->promoted ? vk_xstrdup("keep (becomes its chain's full)") :
      p->new_parent ? vk_xasprintf("keep (on %s)", p->new_parent) : vk_xstrdup("keep");
  return p->merged_into ? vk_xasprintf("merge into %s", p->merged_into) : vk_xstrdup("remove");
}

static void
print_text(const char *domain, const struct vk_prune_result *res, bool dry_run)
{
  /* Each column as wide as its widest cell. */
  int w[4] = { 6, 5, 11, 7 };   /* BACKUP, LEVEL, START (UTC), KEPT BY */
  for (size_t i = 0; i < res->nr_points; i++) {
    const struct vk_prune_point *p = &res->points[i];
    char when[32];
    utc(p->start, when, sizeof when);
    CLEANUP_FREE char *why = vk_retention_reasons(p->reasons);
    const char *cell[] = { p->id, vk_level_name(p->level), when, *why ? why : "-" };
    for (size_t c = 0; c < 4; c++)
      if ((int)strlen(cell[c]) > w[c])
        w[c] = (int)strlen(cell[c]);
  }
  vk_printf("%-*s %-*s %-*s %-*s %s\n", w[0], "BACKUP", w[1], "LEVEL", w[2], "START (UTC)",
            w[3], "KEPT BY", "ACTION");
  for (size_t i = 0; i < res->nr_points; i++) {
    const struct vk_prune_point *p = &res->points[i];
    char when[32];
    utc(p->start, when, sizeof when);
    CLEANUP_FREE char *why = vk_retention_reasons(p->reasons);
    CLEANUP_FREE char *what = action(p);
    vk_printf("%-*s %-*s %-*s %-*s %s\n", w[0], p->id, w[1], vk_level_name(p->level), w[2],
              when, w[3], *why ? why : "-", what);
  }
  for (size_t k = 0; k < res->nr_files; k++) {
    const struct vk_prune_file *f = &res->files[k];
    char size[32];
    vk_human_size(f->bytes, size, sizeof size);
    vk_printf("%s %s -> %s (%s%s%s, at most %s)\n", dry_run ? "would write" : "wrote",
              f->from, f->to, f->header_only ? "new backing file name " :
              f->onto ? "merged, on " : "standalone", f->onto ? f->onto : "",
              f->compressed ? ", compressed" : "", size);
  }
  if (res->checkpoints_checked) {
    CLEANUP_FREE char *names = vk_strv_join(res->checkpoints, ", ");
    vk_printf("checkpoints %s: %s\n", dry_run ? "to delete" : "deleted", *names ? names : "none");
  }
  char size[32];
  vk_human_size(res->bytes, size, sizeof size);
  if (!vk_quiet)
    vk_printf("%s %s: %zu kept, %zu expired, at most %s written\n",
              dry_run ? "Would prune" : "Pruned", domain, res->kept, res->expired, size);
}

static json_object *
result_json(const char *domain, const struct vk_prune_result *res, bool dry_run)
{
  json_object *o = json_object_new_object();
  json_object_object_add(o, "domain", vk_json_string(domain));
  json_object_object_add(o, "dry_run", json_object_new_boolean(dry_run));
  json_object *pts = json_object_new_array();
  for (size_t i = 0; i < res->nr_points; i++) {
    const struct vk_prune_point *p = &res->points[i];
    json_object *j = json_object_new_object();
    json_object_object_add(j, "id", vk_json_string(p->id));
    json_object_object_add(j, "chain", vk_json_string(p->chain));
    json_object_object_add(j, "level", json_object_new_string(vk_level_name(p->level)));
    json_object_object_add(j, "start", json_object_new_int64(p->start));
    json_object_object_add(j, "time_fault", vk_json_string(vk_time_fault_name(p->time_fault)));
    json_object_object_add(j, "kept", json_object_new_boolean(p->reasons != 0));
    json_object *why = json_object_new_array();
    CLEANUP_FREE char *reasons = vk_retention_reasons(p->reasons);
    CLEANUP_STRV char **v = NULL;
    if (*reasons && vk_split_list("reason", reasons, &v) == 0)
      for (char **s = v; *s; s++)
        json_object_array_add(why, json_object_new_string(*s));
    json_object_object_add(j, "reasons", why);
    json_object_object_add(j, "merged_into", vk_json_string(p->merged_into));
    json_object_object_add(j, "parent", vk_json_string(p->new_parent));
    json_object_object_add(j, "promoted", json_object_new_boolean(p->promoted));
    json_object_array_add(pts, j);
  }
  json_object_object_add(o, "backups", pts);
  json_object *files = json_object_new_array();
  for (size_t k = 0; k < res->nr_files; k++) {
    const struct vk_prune_file *f = &res->files[k];
    json_object *j = json_object_new_object();
    json_object_object_add(j, "backup", vk_json_string(f->id));
    json_object_object_add(j, "target", vk_json_string(f->target));
    json_object_object_add(j, "from", vk_json_string(f->from));
    json_object_object_add(j, "to", vk_json_string(f->to));
    json_object_object_add(j, "backing", vk_json_string(f->onto));
    json_object_object_add(j, "header_only", json_object_new_boolean(f->header_only));
    json_object_object_add(j, "compressed", json_object_new_boolean(f->compressed));
    json_object_object_add(j, "bytes", json_object_new_int64(f->bytes));
    json_object_array_add(files, j);
  }
  json_object_object_add(o, "files", files);
  json_object_object_add(o, "bytes", json_object_new_int64(res->bytes));
  json_object *ck = NULL;
  if (res->checkpoints_checked) {
    ck = json_object_new_array();
    for (char **s = res->checkpoints; s && *s; s++)
      json_object_array_add(ck, json_object_new_string(*s));
  }
  json_object_object_add(o, "checkpoints", ck);
  return o;
}

/* prune --from: what restic's forget kept and removed of the copies. */
static void
print_restic(const char *domain, const struct vk_restic_prune_result *res, bool dry_run)
{
  if (vk_json) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "domain", vk_json_string(domain));
    json_object_object_add(o, "from", vk_json_string(po.from));
    json_object_object_add(o, "dry_run", json_object_new_boolean(dry_run));
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < res->n; i++) {
      const struct vk_restic_kept *k = &res->snaps[i];
      json_object *j = json_object_new_object();
      json_object_object_add(j, "id", vk_json_string(k->snap.id));
      json_object_object_add(j, "time", vk_json_string(k->snap.time));
      json_object_object_add(j, "backup", vk_json_string(k->snap.backup));
      json_object_object_add(j, "kept", json_object_new_boolean(k->kept));
      json_object_object_add(j, "reasons", vk_json_string(k->reasons));
      json_object_array_add(arr, j);
    }
    json_object_object_add(o, "snapshots", arr);
    vk_out_json(o);
    return;
  }
  if (vk_quiet)
    return;
  int w[3] = { 8, 4, 6 };   /* SNAPSHOT, TIME, BACKUP */
  for (size_t i = 0; i < res->n; i++) {
    const struct vk_restic_kept *k = &res->snaps[i];
    const char *cell[] = { k->snap.id ? k->snap.id : "-", k->snap.time ? k->snap.time : "-",
                           k->snap.backup ? k->snap.backup : "-" };
    for (size_t c = 0; c < 3; c++)
      if ((int)strlen(cell[c]) > w[c])
        w[c] = (int)strlen(cell[c]);
  }
  vk_printf("%-*s %-*s %-*s %s\n", w[0], "SNAPSHOT", w[1], "TIME", w[2], "BACKUP",
            "ACTION");
  for (size_t i = 0; i < res->n; i++) {
    const struct vk_restic_kept *k = &res->snaps[i];
    CLEANUP_FREE char *what = k->kept ? vk_xasprintf("keep (%s)", k->reasons)
                                      : vk_xstrdup("remove");
    vk_printf("%-*s %-*s %-*s %s\n", w[0], k->snap.id ? k->snap.id : "-", w[1],
              k->snap.time ? k->snap.time : "-", w[2], k->snap.backup ? k->snap.backup : "-",
              what);
  }
  vk_printf("%s the copies of %s in %s: %zu kept, %zu removed\n",
            dry_run ? "Would prune" : "Pruned", domain, po.from, res->kept, res->removed);
}

/* The columns of a domain's row in the summary of prune --all. */
static char *
all_columns(json_object *res, int status)
{
  json_object *pts = NULL, *by = NULL;
  (void)status;
  if (!res || !json_object_object_get_ex(res, "backups", &pts) ||
      !json_object_is_type(pts, json_type_array))
    return vk_xasprintf("%5s %7s %10s", "-", "-", "-");
  size_t kept = 0, n = json_object_array_length(pts);
  for (size_t i = 0; i < n; i++) {
    json_object *k = NULL;
    if (json_object_object_get_ex(json_object_array_get_idx(pts, i), "kept", &k) &&
        json_object_get_boolean(k))
      kept++;
  }
  char bytes[32] = "-";
  if (json_object_object_get_ex(res, "bytes", &by))
    vk_human_size(json_object_get_int64(by), bytes, sizeof bytes);
  return vk_xasprintf("%5zu %7zu %10s", kept, n - kept, bytes);
}

/* prune --all: every domain directory of the repository (--repo, else the
 * policy file's top-level one, else the default), each in its own vckpt
 * process; each domain's retention comes from the command line or its
 * section of the policy file.
 */
static int
prune_all(struct cmd_ctx *ctx)
{
  struct vk_policy_file *cfg = NULL;
  if (vk_policy_load(cmd_policy_file(), &cfg) < 0)
    return -1;
  struct vk_policy pol;
  vk_policy_domain(cfg, "", &pol);
  struct vk_prune_request defaults = { .repo_dir = po.repo };
  vk_prune_apply_policy(&defaults, true, &pol);
  CLEANUP_FREE char *repo = vk_xstrdup(defaults.repo_dir);
  vk_policy_file_free(cfg);
  CLEANUP_STRV char **names = NULL;
  if (vk_fleet_repo_domains(repo, &names) < 0)
    return -1;
  const char *keep_names[] = { "--keep-last", "--keep-hourly", "--keep-daily", "--keep-weekly",
                               "--keep-monthly", "--keep-yearly" };
  int nums[] = { po.last, po.hourly, po.daily, po.weekly, po.monthly, po.yearly };
  char numbuf[6][16];
  struct run_args a = { 0 };
  run_args_add(&a, "prune");
  run_args_add(&a, "--repo");
  run_args_add(&a, repo);
  for (size_t i = 0; i < 6; i++)
    if (nums[i] >= 0) {
      snprintf(numbuf[i], sizeof numbuf[i], "%d", nums[i]);
      run_args_add(&a, keep_names[i]);
      run_args_add(&a, numbuf[i]);
    }
  if (po.within) {
    run_args_add(&a, "--keep-within");
    run_args_add(&a, po.within);
  }
  if (po.dry_run)
    run_args_add(&a, "--dry-run");
  struct run_all ra = {
    .verb = "prune", .args = a.v, .jobs = po.jobs, .noun = "pruned",
    .header = " KEPT EXPIRED    WRITTEN", .columns = all_columns,
  };
  int r = run_all(ctx, names, &ra);
  free(a.v);
  return r;
}

static int
cmd_prune(struct cmd_ctx *ctx, int argc, const char **argv)
{
  if (po.from && !vk_restic_is(po.from)) {
    vk_error(VK_EXIT_USAGE, "--from takes restic:REPOSITORY; a copy in a directory is a "
             "repository: --repo DIR");
    return -1;
  }
  if (po.from && (po.all || po.repo)) {
    vk_error(VK_EXIT_USAGE, "--from prunes the copies of one DOMAIN, without --all or --repo");
    return -1;
  }
  if (po.password_file && !po.from) {
    vk_error(VK_EXIT_USAGE, "--password-file goes with --from");
    return -1;
  }
  if (po.all)
    return prune_all(ctx);
  const char *domain = argv[0];
  vk_set_context("prune %s", domain);
  if (vk_check_lookup_name("domain", domain) < 0)
    return -1;
  const char *counts[] = { "keep-last", "keep-hourly", "keep-daily", "keep-weekly",
                          "keep-monthly", "keep-yearly" };
  int *nums[] = { &po.last, &po.hourly, &po.daily, &po.weekly, &po.monthly, &po.yearly };
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
    if (cmd_option_given(counts[i]) && *nums[i] < 0) {
      vk_error(VK_EXIT_USAGE, "--%s must be 0 or more, not %d", counts[i], *nums[i]);
      return -1;
    }
  /* The policy file's retention and repository, unless the command line
   * says otherwise: any --keep-* replaces the file's rules as a whole.
   */
  struct vk_policy_file *cfg = NULL;
  if (vk_policy_load(cmd_policy_file(), &cfg) < 0)
    return -1;
  struct vk_policy pol;
  vk_policy_domain(cfg, domain, &pol);
  struct vk_prune_request req = { .repo_dir = po.repo, .domain = domain, .dry_run = po.dry_run };
  struct vk_retention *keep = &req.policy;
  bool given = po.last >= 0 || po.hourly >= 0 || po.daily >= 0 || po.weekly >= 0 ||
               po.monthly >= 0 || po.yearly >= 0 || po.within;
  if (given) {
    keep->last = po.last > 0 ? po.last : 0;
    keep->hourly = po.hourly > 0 ? po.hourly : 0;
    keep->daily = po.daily > 0 ? po.daily : 0;
    keep->weekly = po.weekly > 0 ? po.weekly : 0;
    keep->monthly = po.monthly > 0 ? po.monthly : 0;
    keep->yearly = po.yearly > 0 ? po.yearly : 0;
    if (po.within && vk_duration_parse("--keep-within", po.within, &keep->within) < 0) {
      vk_policy_file_free(cfg);
      return -1;
    }
  }
  vk_prune_apply_policy(&req, given, &pol);
  CLEANUP_FREE char *repo = vk_xstrdup(req.repo_dir);
  req.repo_dir = repo;
  vk_policy_file_free(cfg);
  if (!vk_retention_any(keep)) {
    vk_error(VK_EXIT_USAGE, "no retention rule: give --keep-last, --keep-daily, ... or set "
             "them in the policy file");
    return -1;
  }
  if (po.from) {
    struct vk_restic_request rq = {
      .where = po.from, .password_file = po.password_file, .domain = domain,
    };
    struct vk_restic_prune_result rr;
    int rc = vk_restic_prune(&rq, keep, po.dry_run, &rr);
    if (rc == 0) {
      print_restic(domain, &rr, po.dry_run);
      if (!po.dry_run)
        vk_log(LOG_INFO, "prune %s --from %s: %zu kept, %zu removed", domain, po.from,
               rr.kept, rr.removed);
    }
    vk_restic_prune_result_clear(&rr);
    return rc;
  }
  virConnectPtr conn = ctx_connect(ctx);
  if (!conn)
    return -1;
  req.conn = conn;
  struct vk_prune_result res;
  int rc = vk_prune(&req, &res);
  if (res.points) {
    if (vk_json)
      vk_out_json(result_json(domain, &res, po.dry_run));
    else if (!vk_quiet)     /* -q: nothing on stdout unless something failed */
      print_text(domain, &res, po.dry_run);
    if (rc == 0 && !po.dry_run) {
      for (size_t i = 0; i < res.nr_points; i++)
        if (!res.points[i].reasons)
          vk_log(LOG_INFO, "prune %s: backup %s expired%s%s", domain, res.points[i].id,
                 res.points[i].merged_into ? ", merged into " : ", removed",
                 res.points[i].merged_into ? res.points[i].merged_into : "");
      vk_log(LOG_INFO, "prune %s: %zu kept, %zu expired, %llu bytes written", domain,
             res.kept, res.expired, (unsigned long long)res.bytes);
    }
  }
  vk_prune_result_clear(&res);
  return rc;
}

const struct cmd_entry cmd_prune_entry = {
  .name = "prune",
  .args = "DOMAIN|--all",
  .summary = "Apply retention: merge expired backups away, keep every kept one restorable",
  .options = prune_options,
  .flags = CMD_CONNECTS | CMD_ALL,
  .min_args = 0, .max_args = 1,
  .exec = cmd_prune,
};
