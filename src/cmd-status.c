/* vckpt - status: every domain of every repository, its newest backup and
 * how it stands, for people and monitoring (lib/status.h).
 */
#include <config.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "policy.h"
#include "status.h"
#include "vckpt.h"

static char **opt_repos;
static char *opt_max_age, *opt_prometheus;

static const struct poptOption status_options[] = {
  { "repo", '\0', POPT_ARG_ARGV, &opt_repos, 1,
    "this repository (again for more; default: the policy's repositories, else $VCKPT_REPO, "
    "else " VK_VAR_DIR ")", "DIR" },
  { "max-age", '\0', POPT_ARG_STRING, &opt_max_age, 2,
    "a domain whose newest backup is older is stale (default: its policy's max-age, else "
    VK_STATUS_MAX_AGE ")", "DURATION" },
  { "prometheus", '\0', POPT_ARG_STRING, &opt_prometheus, 3,
    "also write the metrics to FILE for node_exporter's textfile collector", "FILE" },
  POPT_TABLEEND
};

static void
free_config(struct vk_policy_file **cfg)
{
  vk_policy_file_free(*cfg);
}
#define CLEANUP_CONFIG __attribute__((cleanup(free_config)))

/* ---- JSON ---- */

static json_object *
last_json(const struct vk_status_domain *d, long long now)
{
  if (!d->have_backup)
    return NULL;
  json_object *o = json_object_new_object();
  json_object_object_add(o, "id", vk_json_string(d->last.id));
  json_object_object_add(o, "chain", vk_json_string(d->last.chain));
  json_object_object_add(o, "level", json_object_new_string(vk_level_name(d->last.level)));
  json_object_object_add(o, "end", json_object_new_int64(d->last.end));
  json_object_object_add(o, "age", json_object_new_int64(now - d->last.end));
  json_object_object_add(o, "host", vk_json_string(d->last.host));
  json_object_object_add(o, "uri", vk_json_string(d->last.host_uri));
  return o;
}

static json_object *
drill_json(const struct vk_status_domain *d)
{
  if (!d->have_drill)
    return NULL;
  json_object *o = json_object_new_object();
  json_object_object_add(o, "backup", vk_json_string(d->drill.backup));
  json_object_object_add(o, "result", json_object_new_string(d->drill.ok ? "booted" : "failed"));
  json_object_object_add(o, "method", vk_json_string(d->drill.method));
  json_object_object_add(o, "start", json_object_new_int64(d->drill.start));
  json_object_object_add(o, "seconds", json_object_new_double(d->drill.seconds));
  json_object_object_add(o, "message", vk_json_string(d->drill.message));
  return o;
}

static json_object *
copy_json(const struct vk_status_domain *d)
{
  if (!d->have_copy)
    return NULL;
  json_object *o = json_object_new_object();
  json_object_object_add(o, "backup", vk_json_string(d->copy.backup));
  json_object_object_add(o, "destination", vk_json_string(d->copy.destination));
  json_object_object_add(o, "time", json_object_new_int64(d->copy.time));
  json_object_object_add(o, "result", json_object_new_string(d->copy.ok ? "ok" : "failed"));
  json_object_object_add(o, "message", vk_json_string(d->copy.message));
  return o;
}

static json_object *
run_json(const struct vk_status_domain *d)
{
  if (!d->have_run)
    return NULL;
  json_object *o = json_object_new_object();
  json_object_object_add(o, "time", json_object_new_int64(d->run.time));
  json_object_object_add(o, "outcome", json_object_new_string(d->run.ok ? "ok" : "failed"));
  json_object_object_add(o, "exit", json_object_new_int(d->run.exit));
  json_object_object_add(o, "message", vk_json_string(d->run.message));
  json_object_object_add(o, "backup", vk_json_string(d->run.backup));
  json_object_object_add(o, "failures", json_object_new_int(d->run.failures));
  json_object_object_add(o, "host", vk_json_string(d->run.host));
  json_object_object_add(o, "uri", vk_json_string(d->run.uri));
  return o;
}

static json_object *
domain_json(const struct vk_status_domain *d, long long now)
{
  json_object *o = json_object_new_object();
  json_object_object_add(o, "domain", vk_json_string(d->name));
  json_object_object_add(o, "state", json_object_new_string(vk_health_name(d->health)));
  json_object_object_add(o, "exit", json_object_new_int(d->exit));
  json_object_object_add(o, "error", vk_json_string(d->error));
  json_object_object_add(o, "writer", vk_json_string(d->writer));
  json_object_object_add(o, "stale", json_object_new_boolean(d->stale));
  json_object_object_add(o, "last_run_failed", json_object_new_boolean(d->failed));
  json_object_object_add(o, "max_age", json_object_new_int64(d->max_age));
  json_object_object_add(o, "last_backup", last_json(d, now));
  bool read = d->health != VK_HEALTH_ERROR;
  json_object_object_add(o, "backups", read ? json_object_new_int64(d->backups) : NULL);
  json_object_object_add(o, "chain_length", read ? json_object_new_int64(d->chain_length) : NULL);
  json_object_object_add(o, "bytes", read ? json_object_new_int64(d->bytes) : NULL);
  json_object_object_add(o, "last_drill", drill_json(d));
  json_object_object_add(o, "last_copy", copy_json(d));
  json_object_object_add(o, "last_run", run_json(d));
  return o;
}

static json_object *
status_json(const struct vk_status *st, bool ok)
{
  json_object *o = json_object_new_object();
  json_object_object_add(o, "time", json_object_new_int64(st->now));
  json_object_object_add(o, "ok", json_object_new_boolean(ok));
  json_object *c = json_object_new_object();
  json_object_object_add(c, "domains", json_object_new_int64(st->domains));
  json_object_object_add(c, "ok", json_object_new_int64(st->ok));
  json_object_object_add(c, "stale", json_object_new_int64(st->stale));
  json_object_object_add(c, "failed", json_object_new_int64(st->failed));
  json_object_object_add(c, "errors", json_object_new_int64(st->errors));
  json_object_object_add(o, "counts", c);
  json_object *repos = json_object_new_array();
  for (size_t i = 0; i < st->n; i++) {
    const struct vk_status_repo *r = &st->repos[i];
    json_object *jr = json_object_new_object();
    json_object_object_add(jr, "path", vk_json_string(r->path));
    json_object_object_add(jr, "exit", json_object_new_int(r->exit));
    json_object_object_add(jr, "error", vk_json_string(r->error));
    json_object *doms = json_object_new_array();
    for (size_t j = 0; j < r->n; j++)
      json_object_array_add(doms, domain_json(&r->domains[j], st->now));
    json_object_object_add(jr, "domains", doms);
    json_object_array_add(repos, jr);
  }
  json_object_object_add(o, "repositories", repos);
  return o;
}

/* ---- text ---- */

#define COLUMNS 10

/* The cells of domain D's row (malloc'd each). */
static void
row_cells(const struct vk_status_domain *d, long long now, char *cell[COLUMNS])
{
  char when[64] = "never", age[32] = "-", size[32] = "-", drill[80] = "never", copy[80] = "never";
  if (d->have_backup) {
    vk_format_time(d->last.end, when, sizeof when);
    vk_status_age(now - d->last.end, age, sizeof age);
  }
  if (d->health != VK_HEALTH_ERROR)
    vk_human_size(d->bytes, size, sizeof size);
  else
    snprintf(when, sizeof when, "-");
  if (d->have_drill) {
    char t[64];
    vk_format_time(d->drill.start, t, sizeof t);
    snprintf(drill, sizeof drill, "%.10s %s", t, d->drill.ok ? "booted" : "FAILED");
  }
  if (d->have_copy) {
    char t[64];
    vk_format_time(d->copy.time, t, sizeof t);
    snprintf(copy, sizeof copy, "%.10s %s", t, d->copy.ok ? "ok" : "FAILED");
  }
  cell[0] = vk_printable(d->name);
  cell[1] = vk_xstrdup(d->health == VK_HEALTH_OK ? "ok" : d->health == VK_HEALTH_STALE
                       ? "STALE" : d->health == VK_HEALTH_FAILED ? "FAILED" : "ERROR");
  cell[2] = vk_xstrdup(when);
  cell[3] = vk_xstrdup(age);
  cell[4] = vk_xstrdup(d->have_backup ? vk_level_name(d->last.level) : "-");
  cell[5] = d->health != VK_HEALTH_ERROR ? vk_xasprintf("%zu", d->chain_length)
                                          : vk_xstrdup("-");
  cell[6] = vk_xstrdup(size);
  cell[7] = vk_xstrdup(drill);
  cell[8] = vk_xstrdup(copy);
  cell[9] = vk_printable(d->last.host ? d->last.host : "-");
}

/* The lines under domain D's row that say what is wrong, or going on. */
static void
print_notes(const struct vk_status_domain *d)
{
  if (d->error) {
    CLEANUP_FREE char *e = vk_printable(d->error);
    vk_printf("    cannot be read: %s\n", e);
    return;
  }
  if (d->writer) {
    CLEANUP_FREE char *w = vk_printable(d->writer);
    vk_printf("    being written by %s (read without its lock)\n", w);
  }
  if (d->failed) {
    char t[64];
    vk_format_time(d->run.time, t, sizeof t);
    CLEANUP_FREE char *m = d->run.message ? vk_printable(d->run.message) : NULL;
    vk_printf("    last attempt: %s, failed (exit status %d)%s%s\n", t, d->run.exit,
              m ? ": " : "", m ? m : "");
  }
  if (d->stale) {
    CLEANUP_FREE char *a = vk_printable(d->max_age_text ? d->max_age_text : "");
    vk_printf("    stale: %s (max age %s)\n", d->have_backup ? "the newest backup is older"
              : "no complete backup", a);
  }
}

/* One repository's table: each column as wide as its widest cell. */
static void
print_repo(const struct vk_status_repo *r, long long now)
{
  static const char *const head[COLUMNS] = {
    "DOMAIN", "STATE", "LAST BACKUP", "AGE", "LEVEL", "CHAIN", "SIZE", "LAST DRILL",
    "LAST COPY", "HOST",
  };
  CLEANUP_FREE char *path = vk_printable(r->path);
  if (r->error) {
    CLEANUP_FREE char *e = vk_printable(r->error);
    vk_printf("Repository %s: cannot be read: %s\n", path, e);
    return;
  }
  vk_printf("Repository %s:%s\n", path, r->n ? "" : " no backups");
  if (!r->n)
    return;
  char *(*cells)[COLUMNS] = vk_xcalloc(r->n, sizeof *cells);
  int w[COLUMNS];
  for (size_t c = 0; c < COLUMNS; c++)
    w[c] = (int)strlen(head[c]);
  for (size_t i = 0; i < r->n; i++) {
    row_cells(&r->domains[i], now, cells[i]);
    for (size_t c = 0; c < COLUMNS; c++)
      if ((int)strlen(cells[i][c]) > w[c])
        w[c] = (int)strlen(cells[i][c]);
  }
  for (size_t c = 0; c < COLUMNS; c++)
    vk_printf(c + 1 < COLUMNS ? (c == 5 ? "%*s " : "%-*s ") : "%-*s\n", w[c], head[c]);
  for (size_t i = 0; i < r->n; i++) {
    /* The last column is not padded: no trailing blanks. */
    for (size_t c = 0; c + 1 < COLUMNS; c++)
      vk_printf(c == 5 ? "%*s " : "%-*s ", w[c], cells[i][c]);
    vk_printf("%s\n", cells[i][COLUMNS - 1]);
    print_notes(&r->domains[i]);
    for (size_t c = 0; c < COLUMNS; c++)
      free(cells[i][c]);
  }
  free(cells);
}

static int
cmd_status(struct cmd_ctx *ctx, int argc, const char **argv)
{
  vk_set_context("status");
  for (size_t i = 0; opt_repos && opt_repos[i]; i++)
    if (!*opt_repos[i]) {
      vk_error(VK_EXIT_USAGE, "--repo is empty");
      return -1;
    }
  if (opt_prometheus && !*opt_prometheus) {
    vk_error(VK_EXIT_USAGE, "--prometheus is empty");
    return -1;
  }
  CLEANUP_CONFIG struct vk_policy_file *cfg = NULL;
  if (vk_policy_load(cmd_policy_file(), &cfg) < 0)
    return -1;
  struct vk_status_request req = {
    .repos = opt_repos, .cfg = cfg, .max_age = opt_max_age, .now = time(NULL),
  };
  struct vk_status st;
  int r = vk_status_collect(&req, &st);
  if (r < 0 && st.n == 0)
    return -1;                /* a usage error: nothing was read */
  vk_set_context("status");
  if (vk_json)
    vk_out_json(status_json(&st, r == 0));
  else if (!vk_quiet || r < 0) {
    for (size_t i = 0; i < st.n; i++) {
      if (i)
        vk_printf("\n");
      print_repo(&st.repos[i], st.now);
    }
    vk_printf("%zu domain%s in %zu repositor%s: %zu ok, %zu stale, %zu failed, %zu unreadable\n",
              st.domains, st.domains == 1 ? "" : "s", st.n, st.n == 1 ? "y" : "ies", st.ok,
              st.stale, st.failed, st.errors);
  }
  if (opt_prometheus && vk_status_prometheus(&st, opt_prometheus) < 0)
    r = -1;
  vk_status_clear(&st);
  /* The table is the point of a failed status: it is printed. */
  if (r < 0)
    vk_out_flush();
  return r;
}

const struct cmd_entry cmd_status_entry = {
  .name = "status",
  .args = "",
  .summary = "Show every domain's newest backup, its age and last failure, from the repositories "
             "(non-zero when one is stale or failed)",
  .options = status_options,
  .min_args = 0, .max_args = 0,
  .exec = cmd_status,
};
