/* vckpt - copy: a domain's backups to a second place (lib/copy.h). */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "copy.h"
#include "restic.h"
#include "fleet.h"
#include "log.h"
#include "repo.h"
#include "runall.h"
#include "vckpt.h"

static struct {
  char *repo, *to, *password_file;
  int all, jobs, verify;
} co = { .jobs = 1 };

static const struct poptOption copy_options[] = {
  { "to", '\0', POPT_ARG_STRING, &co.to, 1,
    "where the copies go: another vckpt repository (a directory), or restic:REPOSITORY",
    "DEST" },
  { "repo", '\0', POPT_ARG_STRING, &co.repo, 2,
    "the repository copied from (default: $VCKPT_REPO, else " VK_VAR_DIR ")", "DIR" },
  { "verify", '\0', POPT_ARG_NONE, &co.verify, 3,
    "also read every file of DEST's backups and check it against its record (the "
    "damaged ones are put back from the repository where it holds the same bytes)", NULL },
  { "all", '\0', POPT_ARG_NONE, &co.all, 4,
    "every domain that has backups in the repository, with one summary", NULL },
  { "jobs", '\0', POPT_ARG_INT, &co.jobs, 5,
    "with --all: copy N domains at once (default 1)", "N" },
  { "password-file", '\0', POPT_ARG_STRING, &co.password_file, 6,
    "restic: the restic repository's password (default: restic's own RESTIC_PASSWORD_* "
    "environment)", "FILE" },
  POPT_TABLEEND
};
static const char *const copy_required[] = { "to", NULL };

/* The kinds of DEST. */
enum dest_kind {
  DEST_DIR,       /* another vckpt repository */
  DEST_RESTIC,    /* restic:REPOSITORY */
};

static enum dest_kind
dest_kind(const char *to)
{
  return strncmp(to, "restic:", 7) == 0 ? DEST_RESTIC : DEST_DIR;
}

static void
print_text(const char *domain, const struct vk_copy_result *res)
{
  for (size_t i = 0; i < res->nr_points; i++) {
    const struct vk_copy_point *p = &res->points[i];
    if (p->action < VK_COPY_COPIED)
      continue;
    char size[32];
    vk_human_size(p->bytes, size, sizeof size);
    if (p->action == VK_COPY_PROMOTED)
      vk_printf("%s: promoted (a standalone full: the destination lacks %s), %s\n", p->id,
                p->parent, size);
    else
      vk_printf("%s: %s, %s\n", p->id, vk_copy_action_name(p->action), size);
  }
  for (char **f = res->repaired; f && *f; f++)
    vk_printf("%s: put back\n", *f);
  if (vk_quiet)
    return;
  char size[32];
  vk_human_size(res->bytes, size, sizeof size);
  size_t skipped = 0;
  for (size_t i = 0; i < res->nr_points; i++)
    skipped += res->points[i].action == VK_COPY_SKIPPED;
  vk_printf("Copied %zu backup%s of %s to %s (%s written%s%s)\n", res->copied,
            res->copied == 1 ? "" : "s", domain, res->dest ? res->dest : co.to, size,
            skipped ? ", older ones it lacks skipped" : "",
            res->repaired ? ", damaged files put back" : "");
}

static json_object *
result_json(const char *domain, const struct vk_copy_result *res)
{
  json_object *o = json_object_new_object();
  json_object_object_add(o, "domain", vk_json_string(domain));
  json_object_object_add(o, "destination", vk_json_string(res->dest));
  json_object *pts = json_object_new_array();
  for (size_t i = 0; i < res->nr_points; i++) {
    const struct vk_copy_point *p = &res->points[i];
    json_object *j = json_object_new_object();
    json_object_object_add(j, "id", vk_json_string(p->id));
    json_object_object_add(j, "level", json_object_new_string(vk_level_name(p->level)));
    json_object_object_add(j, "action", json_object_new_string(vk_copy_action_name(p->action)));
    json_object_object_add(j, "missing_parent", vk_json_string(p->parent));
    json_object_object_add(j, "bytes", json_object_new_int64(p->bytes));
    json_object_array_add(pts, j);
  }
  json_object_object_add(o, "backups", pts);
  json_object *rep = json_object_new_array();
  for (char **f = res->repaired; f && *f; f++)
    json_object_array_add(rep, json_object_new_string(*f));
  json_object_object_add(o, "repaired", rep);
  json_object_object_add(o, "copied", json_object_new_int64(res->copied));
  json_object_object_add(o, "bytes", json_object_new_int64(res->bytes));
  json_object_object_add(o, "newest", vk_json_string(res->newest));
  return o;
}

/* The columns of a domain's row in the summary of copy --all. */
static char *
all_columns(json_object *res, int status)
{
  json_object *n = NULL, *b = NULL;
  (void)status;
  if (!res || !json_object_object_get_ex(res, "copied", &n) ||
      !json_object_object_get_ex(res, "bytes", &b))
    return vk_xasprintf("%6s %10s", "-", "-");
  char bytes[32];
  vk_human_size(json_object_get_int64(b), bytes, sizeof bytes);
  return vk_xasprintf("%6lld %10s", (long long)json_object_get_int64(n), bytes);
}

/* copy --all: every domain directory of the source repository. */
static int
copy_all(struct cmd_ctx *ctx)
{
  const char *repo = vk_default_repo(co.repo);
  CLEANUP_STRV char **names = NULL;
  if (vk_fleet_repo_domains(repo, &names) < 0)
    return -1;
  struct run_args a = { 0 };
  run_args_add(&a, "copy");
  run_args_add(&a, "--repo");
  run_args_add(&a, repo);
  run_args_add(&a, "--to");
  run_args_add(&a, co.to);
  if (co.verify)
    run_args_add(&a, "--verify");
  if (co.password_file) {
    run_args_add(&a, "--password-file");
    run_args_add(&a, co.password_file);
  }
  struct run_all ra = {
    .verb = "copy", .args = a.v, .jobs = co.jobs, .noun = "copied",
    .header = "COPIED    WRITTEN", .columns = all_columns,
  };
  int r = run_all(ctx, names, &ra);
  free(a.v);
  return r;
}

/* Copy DOMAIN into the restic repository DEST: a snapshot (restic.h). */
static int
copy_restic(const char *domain)
{
  vk_set_context("copy %s", domain);
  if (vk_check_lookup_name("domain", domain) < 0)
    return -1;
  struct vk_restic_request rq = { .where = co.to, .password_file = co.password_file,
                                  .domain = domain };
  struct vk_restic_copied c;
  if (vk_restic_copy(&rq, vk_default_repo(co.repo), &c) < 0)
    return -1;
  if (vk_json) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "domain", json_object_new_string(domain));
    json_object_object_add(o, "destination", json_object_new_string(co.to));
    json_object_object_add(o, "snapshot", vk_json_string(c.snap.id));
    json_object_object_add(o, "backup", vk_json_string(c.snap.backup));
    json_object_object_add(o, "host", vk_json_string(c.snap.host));
    json_object_object_add(o, "files_new", json_object_new_int64(c.files_new));
    json_object_object_add(o, "files_changed", json_object_new_int64(c.files_changed));
    json_object_object_add(o, "files_unmodified", json_object_new_int64(c.files_unmodified));
    json_object_object_add(o, "bytes_processed", json_object_new_int64(c.bytes_processed));
    json_object_object_add(o, "bytes_added", json_object_new_int64(c.bytes_added));
    /* copy --all's summary columns */
    json_object_object_add(o, "copied", json_object_new_int64(c.files_new + c.files_changed));
    json_object_object_add(o, "bytes", json_object_new_int64(c.bytes_added));
    vk_out_json(o);
  } else if (!vk_quiet) {
    char added[32];
    vk_human_size(c.bytes_added, added, sizeof added);
    vk_printf("Copied %s to %s: snapshot %s (newest backup %s), %llu new and %llu changed "
              "files, %s added\n", domain, co.to, c.snap.id, c.snap.backup ? c.snap.backup : "-",
              (unsigned long long)c.files_new, (unsigned long long)c.files_changed, added);
  }
  vk_log(LOG_INFO, "copy %s: snapshot %s in %s, %llu bytes added", domain, c.snap.id, co.to,
         (unsigned long long)c.bytes_added);
  vk_restic_copied_clear(&c);
  return 0;
}

/* Copy DOMAIN into the repository DEST. */
static int
copy_dir(const char *domain)
{
  vk_set_context("copy %s", domain);
  if (vk_check_lookup_name("domain", domain) < 0)
    return -1;
  struct vk_copy_request req = {
    .src_repo = vk_default_repo(co.repo), .dest_repo = co.to, .domain = domain,
    .verify = co.verify,
  };
  struct vk_copy_result res;
  int rc = vk_copy(&req, &res);
  if (res.points) {
    if (vk_json)
      vk_out_json(result_json(domain, &res));
    else
      print_text(domain, &res);
    if (rc == 0)
      vk_log(LOG_INFO, "copy %s: %zu backups copied to %s, %llu bytes written%s", domain,
             res.copied, res.dest, (unsigned long long)res.bytes,
             res.repaired ? ", damaged files put back" : "");
  }
  vk_copy_result_clear(&res);
  return rc;
}

static int
cmd_copy(struct cmd_ctx *ctx, int argc, const char **argv)
{
  (void)argc;
  if (co.all)
    return copy_all(ctx);
  switch (dest_kind(co.to)) {
  case DEST_RESTIC:
    if (co.verify) {
      vk_error(VK_EXIT_USAGE, "--verify is for a directory DEST: check a restic copy with "
               "'vckpt verify DOMAIN --from %s'", co.to);
      return -1;
    }
    return copy_restic(argv[0]);
  case DEST_DIR:
    if (co.password_file) {
      vk_error(VK_EXIT_USAGE, "--password-file is for a restic DEST (restic:REPOSITORY)");
      return -1;
    }
    break;
  }
  return copy_dir(argv[0]);
}

const struct cmd_entry cmd_copy_entry = {
  .name = "copy",
  .args = "DOMAIN|--all",
  .summary = "Copy a domain's backups into another repository, checked, crash-safe",
  .options = copy_options,
  .required = copy_required,
  .flags = CMD_ALL,
  .min_args = 0, .max_args = 1,
  .exec = cmd_copy,
};
