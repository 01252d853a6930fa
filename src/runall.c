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
#include "process.h"
#include "runall.h"
#include "testhook.h"

/* What the summary keeps of a domain's run: its row, and its result only
 * when --json prints it.
 */
struct row {
  const char *name;       /* borrowed */
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

/* Each domain in its own vckpt process, JOBS at once (fleet.h). */
static int
run_children(struct cmd_ctx *ctx, char *const *names, const struct run_all *ra,
             struct row *rows, size_t n)
{
  struct vk_fleet_task *tasks = vk_xcalloc(n, sizeof *tasks);
  size_t nargs = 0;
  while (ra->args[nargs])
    nargs++;
  for (size_t i = 0; i < n; i++) {
    const char *a[nargs + 3];
    memcpy(a, ra->args, nargs * sizeof *a);
    a[nargs] = "--";   /* a domain named "-x" is not an option */
    a[nargs + 1] = names[i];
    a[nargs + 2] = NULL;
    tasks[i].name = names[i];
    tasks[i].args = cmd_child_args(ctx, a);
  }
  vk_log(LOG_INFO, "%s --all: %zu domain%s, %u at a time", ra->verb, n, n == 1 ? "" : "s",
         ra->jobs);
  int r = vk_fleet_run(tasks, n, ra->jobs);
  for (size_t i = 0; r == 0 && i < n; i++) {
    struct vk_fleet_task *t = &tasks[i];
    rows[i].started = t->started;
    rows[i].status = t->status;
    rows[i].signal = t->signal;
    rows[i].seconds = t->seconds;
    rows[i].error = t->error;
    t->error = NULL;
    summarise(ra, &rows[i], t->output && *t->output ? json_tokener_parse(t->output) : NULL);
  }
  for (size_t i = 0; i < n; i++)
    vk_fleet_task_clear(&tasks[i]);
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

int
run_all(struct cmd_ctx *ctx, char *const *names, const struct run_all *ra)
{
  size_t n = vk_strv_len(names);
  if (n == 0) {
    vk_warn("no domain to run over");
    if (vk_json)
      vk_out_json(json_object_new_array());
    return 0;
  }
  struct row *rows = vk_xcalloc(n, sizeof *rows);
  for (size_t i = 0; i < n; i++)
    rows[i].name = names[i];
  if (ra->run)
    run_here(ctx, ra, rows, n);
  else if (run_children(ctx, names, ra, rows, n) < 0) {
    free(rows);
    return -1;
  }

  size_t failed = 0;
  for (size_t i = 0; i < n; i++)
    failed += rows[i].status != VK_EXIT_OK;
  /* -q: nothing on stdout unless something failed. */
  bool print = vk_json || !vk_quiet || failed;
  if (print && !vk_json)
    vk_printf("%-24s %-12s %s %8s %4s\n", "DOMAIN", "OUTCOME", ra->header, "SECONDS", "EXIT");
  for (size_t i = 0; i < n; i++) {
    struct row *r = &rows[i];
    vk_unit_begin(r->name);
    vk_set_context("%s %s", ra->verb, r->name);
    vk_out_unit_begin(r->name);
    if (print && vk_json) {
      vk_out_json(r->res);
      r->res = NULL;
    } else if (print) {
      CLEANUP_FREE char *name = vk_printable(r->name);
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
  if (print && !vk_json)
    vk_printf("%zu domain%s: %zu %s, %zu failed\n", n, n == 1 ? "" : "s", n - failed, ra->noun,
              failed);
  vk_log(failed ? LOG_ERR : LOG_INFO, "%s --all: %zu domain%s, %zu %s, %zu failed", ra->verb, n,
         n == 1 ? "" : "s", n - failed, ra->noun, failed);
  if (failed)
    vk_out_flush();
  free(rows);
  return failed ? -1 : 0;
}
