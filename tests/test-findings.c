/* Unit test of the findings catalogue (lib/findings.c): every row is
 * well formed, the table is sorted and has no duplicates, every fix kind
 * has a name, and vk_report_add() attaches the fix kind and summary that
 * --json shows.  With --list, print the catalogue's codes, one a line,
 * for tests/test-findings-catalogue.sh.
 */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "findings.h"
#include "util.h"
#include "validate.h"

static int failed;

#define CHECK(cond, ...) do {                    \
    if (!(cond)) {                               \
      fprintf(stderr, "FAIL: " __VA_ARGS__);     \
      fputc('\n', stderr);                       \
      failed = 1;                                \
    }                                            \
  } while (0)

/* Fix kinds the man page lists; a new kind must be added here and there. */
static const char *const fix_kinds[] = {
  "none", "new-full-chain", "delete-checkpoint-metadata", "remove-bitmap",
  "redefine-checkpoint", "exclude-disk", "wait-for-job", "free-space",
  "fix-permissions", "restore-file", "repair-image", "choose-name",
  "stop-process", "inspect", "finish-operation",
};

int
main(int argc, char **argv)
{
  if (argc == 2 && strcmp(argv[1], "--list") == 0) {
    for (size_t i = 0; i < vk_nr_findings; i++)
      printf("%s\n", vk_findings[i].code);
    return 0;
  }

  /* Rows: sorted, unique, well formed, found by lookup. */
  CHECK(vk_nr_findings > 0, "empty catalogue");
  for (size_t i = 0; i < vk_nr_findings; i++) {
    const struct vk_finding_def *d = &vk_findings[i];
    CHECK(d->code && *d->code, "row %zu has no code", i);
    if (!d->code)
      continue;
    for (const char *p = d->code; *p; p++)
      CHECK((*p >= 'a' && *p <= 'z') || *p == '-', "code '%s' is not [a-z-]", d->code);
    if (i > 0)
      CHECK(strcmp(vk_findings[i - 1].code, d->code) < 0,
            "'%s' is not sorted after '%s' (or a duplicate)", d->code, vk_findings[i - 1].code);
    CHECK(d->summary && *d->summary && !strchr(d->summary, '\n'),
          "'%s' has no one-line summary", d->code);
    CHECK(d->severity == VK_SEV_ERROR || d->severity == VK_SEV_WARNING ||
          d->severity == VK_SEV_INFO, "'%s' has a bad severity", d->code);
    CHECK((unsigned)d->fix < VK_FIX_COUNT_, "'%s' has a bad fix kind", d->code);
    CHECK(vk_finding_lookup(d->code) == d, "lookup of '%s' fails", d->code);
  }
  CHECK(vk_finding_lookup("no-such-code") == NULL, "lookup of an unknown code succeeds");
  CHECK(vk_finding_lookup("") == NULL, "lookup of an empty code succeeds");

  /* Fix kinds: each has its documented name, names are unique. */
  CHECK(sizeof fix_kinds / sizeof fix_kinds[0] == VK_FIX_COUNT_,
        "%zu fix kinds listed here, %d in findings.h",
        sizeof fix_kinds / sizeof fix_kinds[0], (int)VK_FIX_COUNT_);
  for (int k = 0; k < VK_FIX_COUNT_ && k < (int)(sizeof fix_kinds / sizeof fix_kinds[0]); k++)
    CHECK(strcmp(vk_fix_name(k), fix_kinds[k]) == 0, "fix kind %d is '%s', want '%s'",
          k, vk_fix_name(k), fix_kinds[k]);

  /* vk_report_add attaches the catalogue's fix kind and summary; --json
   * shows them.
   */
  struct vk_report rep = { 0 };
  vk_report_add(&rep, "checkpoint-bitmap-missing", VK_SEV_WARNING, "vda", NULL, "c1", "c1",
                vk_xstrdup("message"), vk_xstrdup("action"));
  vk_report_add(&rep, "job-running", VK_SEV_ERROR, NULL, NULL, NULL, NULL,
                vk_xstrdup("message"), vk_xstrdup("action"));
  CHECK(rep.n == 2 && rep.errors == 1 && rep.warnings == 1, "counts");
  CHECK(rep.f[0].fix == VK_FIX_DELETE_CHECKPOINT_METADATA, "fix of checkpoint-bitmap-missing");
  CHECK(rep.f[1].fix == VK_FIX_WAIT_FOR_JOB, "fix of job-running");
  CHECK(rep.f[1].summary == vk_finding_lookup("job-running")->summary, "summary");
  json_object *j = vk_report_json(&rep);
  json_object *arr = NULL, *f0 = NULL, *v = NULL;
  CHECK(json_object_object_get_ex(j, "findings", &arr) && json_object_array_length(arr) == 2,
        "JSON findings");
  f0 = arr ? json_object_array_get_idx(arr, 0) : NULL;
  CHECK(f0 && json_object_object_get_ex(f0, "fix", &v) &&
        strcmp(json_object_get_string(v), "delete-checkpoint-metadata") == 0, "JSON fix");
  CHECK(f0 && json_object_object_get_ex(f0, "summary", &v) &&
        strcmp(json_object_get_string(v),
               vk_finding_lookup("checkpoint-bitmap-missing")->summary) == 0, "JSON summary");
  json_object_put(j);
  vk_report_clear(&rep);

  if (!failed)
    printf("%zu findings, %d fix kinds: OK\n", vk_nr_findings, (int)VK_FIX_COUNT_);
  return failed;
}
