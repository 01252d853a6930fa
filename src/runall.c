/* vckpt - DOMAIN|--all: one vckpt process per domain, one summary. */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "fleet.h"
#include "log.h"
#include "runall.h"

/* The outcome word of a domain's row. */
static const char *
outcome(const struct vk_fleet_task *t)
{
  if (!t->started)
    return "not started";
  if (t->signal && t->status != VK_EXIT_INTERRUPTED)
    return "killed";
  switch (t->status) {
  case VK_EXIT_OK: return "ok";
  case VK_EXIT_USAGE: return "usage error";
  case VK_EXIT_NOT_FOUND: return "not found";
  case VK_EXIT_PREFLIGHT: return "refused";
  case VK_EXIT_BUSY: return "busy";
  case VK_EXIT_INTERRUPTED: return "interrupted";
  default: return "failed";
  }
}

/* Report the failure of task T in its unit: why it failed, as its child
 * told on stderr above, or as the runner saw it.
 */
static void
report(const struct vk_fleet_task *t)
{
  if (t->error)
    vk_error(VK_EXIT_FAILURE, "%s", t->error);
  else if (!t->started)
    vk_error(VK_EXIT_INTERRUPTED, "not started: interrupted by a signal");
  else if (t->signal && t->status != VK_EXIT_INTERRUPTED)
    vk_error((enum vk_exit)t->status, "its vckpt process was killed by signal %d", t->signal);
  else
    vk_error((enum vk_exit)t->status, "%s (exit status %d)", outcome(t), t->status);
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
  if (vk_fleet_run(tasks, n, ra->jobs) < 0) {
    for (size_t i = 0; i < n; i++)
      vk_fleet_task_clear(&tasks[i]);
    free(tasks);
    return -1;
  }

  size_t failed = 0;
  for (size_t i = 0; i < n; i++)
    failed += tasks[i].status != VK_EXIT_OK;
  /* -q: nothing on stdout unless something failed. */
  bool print = vk_json || !vk_quiet || failed;
  if (print && !vk_json)
    vk_printf("%-24s %-12s %s %8s %4s\n", "DOMAIN", "OUTCOME", ra->header, "SECONDS", "EXIT");
  for (size_t i = 0; i < n; i++) {
    const struct vk_fleet_task *t = &tasks[i];
    json_object *res = t->output && *t->output ? json_tokener_parse(t->output) : NULL;
    vk_unit_begin(t->name);
    vk_set_context("%s %s", ra->verb, t->name);
    vk_out_unit_begin(t->name);
    if (print && vk_json)
      vk_out_json(res ? json_object_get(res) : NULL);
    else if (print) {
      CLEANUP_FREE char *cols = ra->columns(res, t->status);
      CLEANUP_FREE char *name = vk_printable(t->name);
      vk_printf("%-24s %-12s %s %8.1f %4d\n", name, outcome(t), cols, t->seconds, t->status);
    }
    /* The row stays in the unit's result even when the domain failed. */
    vk_out_flush();
    if (t->status != VK_EXIT_OK)
      report(t);
    else
      vk_log(LOG_INFO, "%s %s: ok in %.1f s", ra->verb, t->name, t->seconds);
    vk_out_unit_end(vk_unit_end());
    json_object_put(res);
  }
  if (print && !vk_json)
    vk_printf("%zu domain%s: %zu %s, %zu failed\n", n, n == 1 ? "" : "s", n - failed, ra->noun,
              failed);
  vk_log(failed ? LOG_ERR : LOG_INFO, "%s --all: %zu domain%s, %zu %s, %zu failed", ra->verb, n,
         n == 1 ? "" : "s", n - failed, ra->noun, failed);
  if (failed)
    vk_out_flush();
  for (size_t i = 0; i < n; i++)
    vk_fleet_task_clear(&tasks[i]);
  free(tasks);
  return failed ? -1 : 0;
}
