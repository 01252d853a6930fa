/* Unit test of errors per unit of work (lib/util.c) and of output per unit
 * (lib/output.c): a run over several "domains" in one process, as
 * `--all` will do.  A failure in one unit is not seen by the next, each
 * unit has its own status, the run's status follows the documented order
 * (1 > 6 > 4 > 5 > 3 > 2 > 0), and the output holds one result per unit.
 */
#include <config.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "output.h"
#include "util.h"

static int failed;

#define CHECK(cond, ...) do {                    \
    if (!(cond)) {                               \
      fprintf(stderr, "FAIL: line %d: ", __LINE__); \
      fprintf(stderr, __VA_ARGS__);              \
      fputc('\n', stderr);                       \
      failed = 1;                                \
    }                                            \
  } while (0)

/* One step of a run: a domain and what it reports (VK_EXIT_OK: nothing). */
struct step {
  const char *domain;
  enum vk_exit first, second;  /* errors it reports, in order */
  enum vk_exit want;           /* its status: the first error's code */
};

/* Run STEPS as units inside one command unit, as main() and a run over
 * many domains do; check each unit, then return the command's status
 * (what main() exits with).
 */
static enum vk_exit
run(const struct step *steps, size_t n)
{
  vk_unit_begin("command");
  vk_set_context("backup --all");
  for (size_t i = 0; i < n; i++) {
    const struct step *s = &steps[i];
    vk_unit_begin(s->domain);
    vk_set_context("backup %s", s->domain);
    CHECK(!vk_error_reported(), "%s: starts with the error of an earlier domain", s->domain);
    CHECK(vk_unit_status() == VK_EXIT_OK, "%s: starts with status %d", s->domain,
          vk_unit_status());
    CHECK(vk_unit_name() && strcmp(vk_unit_name(), s->domain) == 0, "unit name");
    if (s->first != VK_EXIT_OK)
      vk_error(s->first, "first error");
    if (s->second != VK_EXIT_OK)
      vk_error(s->second, "second error");
    CHECK(vk_error_reported() == (s->first != VK_EXIT_OK), "%s: reported", s->domain);
    enum vk_exit st = vk_unit_end();
    CHECK(st == s->want, "%s: status %d, want %d", s->domain, st, s->want);
  }
  /* The command's unit sees that its domains failed (so main() adds no
   * vague "failed"), and its own context is back.
   */
  bool any = false;
  for (size_t i = 0; i < n; i++)
    any |= steps[i].want != VK_EXIT_OK;
  CHECK(vk_error_reported() == any, "command unit: reported %d, want %d",
        vk_error_reported(), any);
  enum vk_exit st = vk_unit_end();
  vk_set_context(NULL);
  CHECK(!vk_unit_active(), "a unit is still active");
  return st;
}

/* Runs and the status each must end with. */
static const struct {
  const char *what;
  struct step steps[6];
  size_t n;
  enum vk_exit want;
} runs[] = {
  { "all succeed", {
      { "web1", 0, 0, 0 }, { "web2", 0, 0, 0 }, { "db", 0, 0, 0 } }, 3, VK_EXIT_OK },
  { "one busy among good ones", {
      { "web1", 0, 0, 0 }, { "web2", VK_EXIT_BUSY, 0, VK_EXIT_BUSY },
      { "db", 0, 0, 0 } }, 3, VK_EXIT_BUSY },
  { "first error wins inside a unit", {
      { "web1", VK_EXIT_USAGE, VK_EXIT_FAILURE, VK_EXIT_USAGE },
      { "web2", VK_EXIT_NOT_FOUND, 0, VK_EXIT_NOT_FOUND } }, 2, VK_EXIT_NOT_FOUND },
  { "busy is worse than not found, whatever the order", {
      { "a", VK_EXIT_BUSY, 0, VK_EXIT_BUSY }, { "b", VK_EXIT_NOT_FOUND, 0, VK_EXIT_NOT_FOUND },
      { "c", VK_EXIT_USAGE, 0, VK_EXIT_USAGE } }, 3, VK_EXIT_BUSY },
  { "preflight refused is worse than busy", {
      { "a", VK_EXIT_BUSY, 0, VK_EXIT_BUSY },
      { "b", VK_EXIT_PREFLIGHT, VK_EXIT_FAILURE, VK_EXIT_PREFLIGHT },
      { "c", 0, 0, 0 } }, 3, VK_EXIT_PREFLIGHT },
  { "interrupted is worse than refused", {
      { "a", VK_EXIT_PREFLIGHT, 0, VK_EXIT_PREFLIGHT },
      { "b", VK_EXIT_INTERRUPTED, 0, VK_EXIT_INTERRUPTED } }, 2, VK_EXIT_INTERRUPTED },
  { "a failure is the most serious", {
      { "a", VK_EXIT_FAILURE, 0, VK_EXIT_FAILURE },
      { "b", VK_EXIT_INTERRUPTED, 0, VK_EXIT_INTERRUPTED },
      { "c", VK_EXIT_PREFLIGHT, 0, VK_EXIT_PREFLIGHT },
      { "d", VK_EXIT_BUSY, 0, VK_EXIT_BUSY },
      { "e", VK_EXIT_NOT_FOUND, 0, VK_EXIT_NOT_FOUND },
      { "f", VK_EXIT_USAGE, 0, VK_EXIT_USAGE } }, 6, VK_EXIT_FAILURE },
};

/* The order itself, pair by pair. */
static void
check_order(void)
{
  static const enum vk_exit order[] = {   /* least serious first */
    VK_EXIT_OK, VK_EXIT_USAGE, VK_EXIT_NOT_FOUND, VK_EXIT_BUSY, VK_EXIT_PREFLIGHT,
    VK_EXIT_INTERRUPTED, VK_EXIT_FAILURE,
  };
  size_t n = sizeof order / sizeof order[0];
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++) {
      enum vk_exit want = order[i > j ? i : j];
      CHECK(vk_exit_worse(order[i], order[j]) == want, "worse(%d, %d) is %d, want %d",
            order[i], order[j], vk_exit_worse(order[i], order[j]), want);
    }
}

/* Output per unit: with --json one array, one object per unit; a failed
 * unit keeps only what it flushed itself.
 */
static void
check_output(void)
{
  char path[] = "/tmp/test-errors.XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0, "mkstemp");
  if (fd < 0)
    return;
  unlink(path);
  fflush(stdout);
  int saved = dup(1);
  dup2(fd, 1);

  vk_json = true;
  vk_unit_begin("command");
  /* web1 succeeds. */
  vk_unit_begin("web1");
  vk_out_unit_begin("web1");
  vk_out_json(json_object_new_string("web1 done"));
  vk_out_unit_end(vk_unit_end());
  /* web2 is refused: its report was flushed before the error. */
  vk_unit_begin("web2");
  vk_out_unit_begin("web2");
  vk_out_json(json_object_new_string("web2 report"));
  vk_out_flush();
  vk_error(VK_EXIT_PREFLIGHT, "refused");
  vk_out_unit_end(vk_unit_end());
  /* db fails half-way: what it had not flushed is dropped. */
  vk_unit_begin("db");
  vk_out_unit_begin("db");
  vk_out_json(json_object_new_string("half"));
  vk_error(VK_EXIT_BUSY, "busy");
  vk_out_unit_end(vk_unit_end());
  CHECK(vk_unit_end() == VK_EXIT_PREFLIGHT, "command status");
  CHECK(vk_out_has_results(), "no results collected");
  CHECK(vk_out_flush() == 0, "flush");
  vk_json = false;

  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  char text[4096];
  ssize_t got = pread(fd, text, sizeof text - 1, 0);
  close(fd);
  CHECK(got > 0, "no output");
  text[got > 0 ? got : 0] = '\0';
  json_object *arr = json_tokener_parse(text);
  CHECK(arr && json_object_is_type(arr, json_type_array) && json_object_array_length(arr) == 3,
        "not an array of 3: %s", text);
  static const struct { const char *unit; int exit; const char *result; } want[] = {
    { "web1", 0, "web1 done" }, { "web2", 4, "web2 report" }, { "db", 5, NULL },
  };
  for (size_t i = 0; arr && i < 3 && i < json_object_array_length(arr); i++) {
    json_object *o = json_object_array_get_idx(arr, i), *v;
    CHECK(json_object_object_get_ex(o, "unit", &v) &&
          strcmp(json_object_get_string(v), want[i].unit) == 0, "unit %zu name", i);
    CHECK(json_object_object_get_ex(o, "exit", &v) && json_object_get_int(v) == want[i].exit,
          "unit %zu exit", i);
    CHECK(json_object_object_get_ex(o, "result", &v), "unit %zu has no result", i);
    if (want[i].result)
      CHECK(v && strcmp(json_object_get_string(v), want[i].result) == 0, "unit %zu result", i);
    else
      CHECK(v == NULL, "unit %zu result is not null", i);
  }
  json_object_put(arr);
}

int
main(void)
{
  CHECK(vk_run_status() == VK_EXIT_OK && !vk_error_reported(), "a fresh process has errors");
  check_order();
  for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
    enum vk_exit st = run(runs[r].steps, runs[r].n);
    CHECK(st == runs[r].want, "%s: run status %d, want %d", runs[r].what, st, runs[r].want);
    printf("%-50s exit %d\n", runs[r].what, (int)runs[r].want);
  }
  check_output();
  /* After everything, the process's exit status is the worst of all. */
  CHECK(vk_exit_status() == VK_EXIT_FAILURE, "exit status %d", vk_exit_status());
  return failed;
}
