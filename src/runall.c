/* vckpt - DOMAIN|--all: one vckpt process per domain, or every domain in
 * this one (struct run_all's run), and one summary.
 */
#include <config.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "fleet.h"
#include "log.h"
#include "policy.h"
#include "process.h"
#include "runall.h"
#include "testhook.h"

/* What the summary keeps of a domain's run: its row, and its result only
 * when --json prints it.
 */
struct row {
  const char *name;       /* borrowed: the domain, or a host_row's host */
  const struct run_host *host;   /* its host (run_all's hosts), or NULL */
  bool host_row;          /* the row of a host whose domains could not be listed */
  bool started;           /* it ran (else: a stop signal came first) */
  bool reported;          /* its failure was reported in its unit already */
  int status;             /* VK_EXIT_* */
  int signal;             /* the signal that killed its child, or 0 */
  char *error;            /* why its child could not run, or NULL */
  double seconds;
  char *cols;             /* the command's columns of its row */
  json_object *res;       /* its result (--json only), or NULL */
};

/* Add ARG to A (runall.h). */
void
run_args_add(struct run_args *a, const char *arg)
{
  a->v = vk_xrealloc(a->v, (a->n + 2) * sizeof *a->v);
  a->v[a->n++] = arg;
  a->v[a->n] = NULL;
}

/* The outcome word of a domain's row. */
static const char *
outcome(const struct row *r)
{
  if (r->host_row)
    return "unreachable";
  if (!r->started)
    return "not started";
  if (r->signal && r->status != VK_EXIT_INTERRUPTED)
    return "killed";
  switch (r->status) {
  case VK_EXIT_OK: return "ok";
  case VK_EXIT_USAGE: return "usage error";
  case VK_EXIT_NOT_FOUND: return "not found";
  case VK_EXIT_PREFLIGHT: return "refused";
  case VK_EXIT_BUSY: return "busy";
  case VK_EXIT_INTERRUPTED: return "interrupted";
  default: return "failed";
  }
}

/* Report the failure of row R in its unit: why it failed, as its child
 * told on stderr above, or as the runner saw it.
 */
static void
report(const struct row *r)
{
  if (r->error)
    vk_error(VK_EXIT_FAILURE, "%s", r->error);
  else if (!r->started)
    vk_error(VK_EXIT_INTERRUPTED, "not started: interrupted by a signal");
  else if (r->signal && r->status != VK_EXIT_INTERRUPTED)
    vk_error((enum vk_exit)r->status, "its vckpt process was killed by signal %d", r->signal);
  else
    vk_error((enum vk_exit)r->status, "%s (exit status %d)", outcome(r), r->status);
}

/* Keep of RES what the summary needs: the columns, and RES itself with
 * --json (else it is freed).
 */
static void
summarise(const struct run_all *ra, struct row *r, json_object *res)
{
  r->cols = ra->columns(res, r->status);
  if (vk_json)
    r->res = res;
  else
    json_object_put(res);
}

/* Each domain in its own vckpt process, JOBS at once (fleet.h), or each
 * host's JOBS of its domains at once, connecting to the host's URI.
 */
static int
run_children(struct cmd_ctx *ctx, const struct run_all *ra, struct row *rows, size_t n)
{
  struct vk_fleet_task *tasks = vk_xcalloc(n, sizeof *tasks);
  size_t *row_of = vk_xcalloc(n, sizeof *row_of);
  size_t nargs = 0, nt = 0;
  while (ra->args[nargs])
    nargs++;
  for (size_t i = 0; i < n; i++) {
    if (rows[i].host_row)
      continue;
    const char *a[nargs + 3];
    memcpy(a, ra->args, nargs * sizeof *a);
    a[nargs] = "--";   /* a domain named "-x" is not an option */
    a[nargs + 1] = rows[i].name;
    a[nargs + 2] = NULL;
    struct cmd_ctx hctx = *ctx;
    if (rows[i].host)
      hctx.uri = rows[i].host->uri;
    tasks[nt].name = rows[i].name;
    tasks[nt].args = cmd_child_args(&hctx, a);
    tasks[nt].group = rows[i].host ? (unsigned)(rows[i].host - ra->hosts) : 0;
    row_of[nt++] = i;
  }
  size_t ngroups = ra->hosts ? ra->nr_hosts : 1;
  unsigned *jobs = vk_xcalloc(ngroups, sizeof *jobs);
  for (size_t g = 0; g < ngroups; g++)
    jobs[g] = ra->hosts ? ra->hosts[g].jobs : ra->jobs;
  if (ra->hosts)
    vk_log(LOG_INFO, "%s --all: %zu domain%s on %zu host%s", ra->verb, nt, nt == 1 ? "" : "s",
           ra->nr_hosts, ra->nr_hosts == 1 ? "" : "s");
  else
    vk_log(LOG_INFO, "%s --all: %zu domain%s, %u at a time", ra->verb, nt, nt == 1 ? "" : "s",
           ra->jobs);
  int r = vk_fleet_run_groups(tasks, nt, jobs, ngroups);
  for (size_t k = 0; r == 0 && k < nt; k++) {
    struct vk_fleet_task *t = &tasks[k];
    struct row *row = &rows[row_of[k]];
    row->started = t->started;
    row->status = t->status;
    row->signal = t->signal;
    row->seconds = t->seconds;
    row->error = t->error;
    t->error = NULL;
    summarise(ra, row, t->output && *t->output ? json_tokener_parse(t->output) : NULL);
  }
  for (size_t k = 0; k < nt; k++)
    vk_fleet_task_clear(&tasks[k]);
  free(jobs);
  free(row_of);
  free(tasks);
  return r;
}

static double
since(const struct timespec *t0)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Each domain in this process, one after another, in its own unit of work:
 * its errors are its own (util.h), and all it allocated but its summary is
 * freed before the next begins.  A stop signal lets the domain running
 * finish (a few milliseconds of reading) and starts no more.
 */
static void
run_here(struct cmd_ctx *ctx, const struct run_all *ra, struct row *rows, size_t n)
{
  vk_log(LOG_INFO, "%s --all: %zu domain%s, one after another in one process", ra->verb, n,
         n == 1 ? "" : "s");
  vk_stop_catch_begin();
  /* Tests change the domains between the listing and the runs here. */
  vk_test_hook("all-listed");
  for (size_t i = 0; i < n; i++) {
    struct row *r = &rows[i];
    if (vk_stop_signal) {
      r->status = VK_EXIT_INTERRUPTED;
      summarise(ra, r, NULL);
      continue;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    json_object *res = NULL;
    r->started = r->reported = true;
    vk_unit_begin(r->name);
    vk_set_context("%s %s", ra->verb, r->name);
    if (ra->run(ctx, r->name, &res) < 0 && !vk_error_reported())
      vk_error(VK_EXIT_FAILURE, "failed");   /* never silently ok */
    r->status = vk_unit_end();
    r->seconds = since(&t0);
    summarise(ra, r, res);
  }
  vk_stop_catch_end();
}

/* The rows of a run over NAMES (and RA's hosts, each host whose domains
 * could not be listed a row of its own, in the hosts' order): *N of them.
 */
static struct row *
make_rows(char *const *names, const struct run_all *ra, size_t *n)
{
  size_t nn = vk_strv_len(names), m = 0, k = 0;
  struct row *rows = vk_xcalloc(nn + ra->nr_hosts + 1, sizeof *rows);
  for (size_t h = 0; ra->hosts && h < ra->nr_hosts; h++) {
    const struct run_host *host = &ra->hosts[h];
    if (host->status != VK_EXIT_OK)
      rows[m++] = (struct row) {
        .name = host->name, .host = host, .host_row = true, .started = true,
        .reported = true, .status = host->status,
      };
    for (; k < nn && ra->host_of[k] == h; k++)
      rows[m++] = (struct row) { .name = names[k], .host = host };
  }
  for (; k < nn; k++)
    rows[m++] = (struct row) { .name = names[k] };
  *n = m;
  return rows;
}

int
run_all(struct cmd_ctx *ctx, char *const *names, const struct run_all *ra)
{
  size_t n;
  struct row *rows = make_rows(names, ra, &n);
  if (n == 0) {
    free(rows);
    vk_warn("no domain to run over");
    if (vk_json)
      vk_out_json(json_object_new_array());
    return 0;
  }
  for (size_t i = 0; i < n; i++)
    if (rows[i].host_row)
      summarise(ra, &rows[i], NULL);
  if (ra->run)
    run_here(ctx, ra, rows, n);
  else if (run_children(ctx, ra, rows, n) < 0) {
    for (size_t i = 0; i < n; i++)
      free(rows[i].cols);
    free(rows);
    return -1;
  }

  size_t failed = 0, domains = 0, unreachable = 0;
  int hw = 4;                     /* the HOST column's width */
  for (size_t i = 0; i < n; i++) {
    failed += !rows[i].host_row && rows[i].status != VK_EXIT_OK;
    domains += !rows[i].host_row;
    unreachable += rows[i].host_row;
    if (rows[i].host && (int)strlen(rows[i].host->name) > hw)
      hw = (int)strlen(rows[i].host->name);
  }
  /* -q: nothing on stdout unless something failed. */
  bool print = vk_json || !vk_quiet || failed || unreachable;
  if (print && !vk_json) {
    if (ra->hosts)
      vk_printf("%-*s ", hw, "HOST");
    vk_printf("%-24s %-12s %s %8s %4s\n", "DOMAIN", "OUTCOME", ra->header, "SECONDS", "EXIT");
  }
  for (size_t i = 0; i < n; i++) {
    struct row *r = &rows[i];
    vk_unit_begin(r->name);
    if (r->host_row)
      vk_set_context("%s --all: host %s", ra->verb, r->name);
    else
      vk_set_context("%s %s", ra->verb, r->name);
    vk_out_unit_begin(r->name);
    if (r->host)
      vk_out_unit_host(r->host->name);
    if (print && vk_json) {
      vk_out_json(r->res);
      r->res = NULL;
    } else if (print) {
      CLEANUP_FREE char *name = vk_printable(r->host_row ? "-" : r->name);
      if (ra->hosts)
        vk_printf("%-*s ", hw, r->host ? r->host->name : "-");
      vk_printf("%-24s %-12s %s %8.1f %4d\n", name, outcome(r), r->cols, r->seconds, r->status);
    }
    /* The row stays in the unit's result even when the domain failed. */
    vk_out_flush();
    if (r->status != VK_EXIT_OK) {
      if (!r->reported)
        report(r);
    } else
      vk_log(LOG_INFO, "%s %s: ok in %.1f s", ra->verb, r->name, r->seconds);
    vk_unit_end();
    vk_out_unit_end(r->status);
    free(r->cols);
    free(r->error);
    json_object_put(r->res);
  }
  CLEANUP_FREE char *hosts = ra->hosts
    ? vk_xasprintf(" on %zu host%s", ra->nr_hosts, ra->nr_hosts == 1 ? "" : "s") : NULL;
  CLEANUP_FREE char *lost = unreachable
    ? vk_xasprintf("; %zu host%s unreachable", unreachable, unreachable == 1 ? "" : "s") : NULL;
  if (print && !vk_json)
    vk_printf("%zu domain%s%s: %zu %s, %zu failed%s\n", domains, domains == 1 ? "" : "s",
              hosts ? hosts : "", domains - failed, ra->noun, failed, lost ? lost : "");
  vk_log(failed || unreachable ? LOG_ERR : LOG_INFO, "%s --all: %zu domain%s%s, %zu %s, %zu failed%s",
         ra->verb, domains, domains == 1 ? "" : "s", hosts ? hosts : "", domains - failed,
         ra->noun, failed, lost ? lost : "");
  if (failed || unreachable)
    vk_out_flush();
  free(rows);
  return failed || unreachable ? -1 : 0;
}

int
run_all_hosts(struct cmd_ctx *ctx, const struct vk_policy_file *cfg, bool inactive,
              bool jobs_given, const struct run_all *ra)
{
  size_t nh = vk_policy_hosts(cfg);
  CLEANUP_STRV char **names = NULL;
  /* -c names the one host; no host section: the command's connection. */
  if (ctx->uri || nh == 0) {
    virConnectPtr conn = ctx_connect(ctx);
    if (!conn || vk_fleet_domains(conn, inactive, &names) < 0)
      return -1;
    return run_all(ctx, names, ra);
  }
  struct run_host *hosts = vk_xcalloc(nh, sizeof *hosts);
  size_t *host_of = NULL, n = 0;
  names = vk_xcalloc(1, sizeof *names);
  for (size_t h = 0; h < nh; h++) {
    struct vk_policy_host ph;
    vk_policy_host(cfg, h, &ph);
    hosts[h] = (struct run_host) {
      .name = ph.name, .uri = ph.uri,
      .jobs = jobs_given || ph.jobs <= 0 ? ra->jobs : (unsigned)ph.jobs,
    };
    /* Its listing is a unit of work of its own: its failure is its own. */
    vk_unit_begin(ph.name);
    vk_set_context("%s --all: host %s", ra->verb, ph.name);
    char **hn = NULL;
    if (vk_fleet_host_domains(ph.uri, inactive, &hn) < 0 && !vk_error_reported())
      vk_error(VK_EXIT_FAILURE, "cannot list the domains of %s", ph.uri);
    for (size_t i = 0; hn && hn[i]; i++) {
      vk_strv_push(&names, hn[i]);
      host_of = vk_xrealloc(host_of, (n + 1) * sizeof *host_of);
      host_of[n++] = h;
    }
    free(hn);                 /* its strings now belong to NAMES */
    hosts[h].status = vk_unit_end();
    if (hosts[h].status != VK_EXIT_OK)
      vk_log(LOG_ERR, "%s --all: host %s (%s): its domains could not be listed", ra->verb,
             ph.name, ph.uri);
  }
  struct run_all hra = *ra;
  hra.hosts = hosts;
  hra.nr_hosts = nh;
  hra.host_of = host_of;
  int r = run_all(ctx, names, &hra);
  free(host_of);
  free(hosts);
  return r;
}
