/* Unit test of the retention rules (lib/retention.c): tables of backup
 * times and policies, and the points each keeps, compared with restic's
 * meanings (a point is kept if any rule keeps it; daily = the newest point
 * of each of the last N days that have points; keep-within relative to the
 * newest point), in UTC.
 */
#include <config.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "retention.h"
#include "util.h"

static int errors;

/* "2026-11-22 03:00" (UTC) as a unix time. */
static long long
at(const char *s)
{
  struct tm tm = { 0 };
  if (!strptime(s, "%Y-%m-%d %H:%M", &tm)) {
    fprintf(stderr, "bad time %s\n", s);
    return 0;
  }
  return timegm(&tm);
}

struct rcase {
  const char *name;
  struct vk_retention pol;
  const char *times[16];      /* manifest order, oldest first; NULL ends */
  const char *kept;           /* one letter per point: 'k' kept, '.' expires */
};

#define D(y, m, d, h) { .years = (y), .months = (m), .days = (d), .hours = (h) }

static const struct rcase cases[] = {
  { "last 2", { .last = 2 },
    { "2026-11-01 03:00", "2026-11-02 03:00", "2026-11-03 03:00", "2026-11-04 03:00", NULL },
    "..kk" },
  { "newest always kept", { .daily = 1 },
    { "2026-11-01 03:00", "2026-11-01 04:00", NULL }, ".k" },
  /* restic's forum example: May 1 8h, May 2 8h, May 2 11h, May 4 9h, May 5 10h. */
  { "daily 4 skips days without backups", { .daily = 4 },
    { "2026-05-01 08:00", "2026-05-02 08:00", "2026-05-02 11:00", "2026-05-04 09:00",
      "2026-05-05 10:00", NULL }, "k.kkk" },
  { "within 4d of the newest", { .within = D(0, 0, 4, 0) },
    { "2026-05-01 08:00", "2026-05-02 08:00", "2026-05-02 11:00", "2026-05-04 09:00",
      "2026-05-05 10:00", NULL }, ".kkkk" },
  { "daily in UTC days", { .daily = 2 },
    { "2026-11-01 23:30", "2026-11-02 00:30", "2026-11-02 23:59", "2026-11-03 00:00", NULL },
    "..kk" },
  /* Fewer days than asked: the oldest point is kept as well (restic 0.16). */
  { "daily 7 with 2 days keeps the oldest", { .daily = 7 },
    { "2026-11-01 01:00", "2026-11-01 02:00", "2026-11-02 01:00", NULL }, "kkk" },
  { "daily 2 over 3 days", { .daily = 2 },
    { "2026-11-01 01:00", "2026-11-01 02:00", "2026-11-02 01:00", "2026-11-03 01:00", NULL },
    "..kk" },
  /* ISO weeks: 2026-11-02 is a Monday; 2026-11-08 a Sunday. */
  { "weekly 2", { .weekly = 2 },
    { "2026-10-26 03:00", "2026-11-01 03:00", "2026-11-02 03:00", "2026-11-05 03:00",
      "2026-11-08 03:00", "2026-11-09 03:00", NULL }, "....kk" },
  { "weekly 3", { .weekly = 3 },
    { "2026-10-26 03:00", "2026-11-01 03:00", "2026-11-02 03:00", "2026-11-05 03:00",
      "2026-11-08 03:00", "2026-11-09 03:00", NULL }, ".k..kk" },
  { "monthly 2 and last 1", { .monthly = 2, .last = 1 },
    { "2026-09-30 03:00", "2026-10-01 03:00", "2026-10-31 03:00", "2026-11-01 03:00",
      "2026-11-02 03:00", NULL }, "..k.k" },
  { "yearly 1", { .yearly = 1 },
    { "2025-12-31 23:00", "2026-01-01 00:00", NULL }, ".k" },
  { "hourly 2", { .hourly = 2 },
    { "2026-11-01 01:10", "2026-11-01 01:50", "2026-11-01 02:10", "2026-11-01 02:20", NULL },
    ".k.k" },
  { "rules add up", { .last = 1, .daily = 2, .within = D(0, 0, 0, 1) },
    { "2026-11-01 01:00", "2026-11-02 01:00", "2026-11-03 01:00", "2026-11-03 01:30",
      "2026-11-03 02:10", NULL }, ".k.kk" },
  /* Equal times: manifest order decides which is newer. */
  { "ties by manifest order", { .daily = 1 },
    { "2026-11-01 01:00", "2026-11-01 01:00", NULL }, ".k" },
  { "within 1m from March 31", { .within = D(0, 1, 0, 0) },
    { "2026-02-28 00:00", "2026-03-02 00:00", "2026-03-03 12:00", "2026-03-31 00:00", NULL },
    "..kk" },
};

/* The duration parser. */
static void
test_durations(void)
{
  struct { const char *s; int ok, y, m, d, h; } t[] = {
    { "1y5m7d2h", 1, 1, 5, 7, 2 }, { "2w", 1, 0, 0, 14, 0 }, { "3d1w", 1, 0, 0, 10, 0 },
    { "36h", 1, 0, 0, 0, 36 }, { "", 0, 0, 0, 0, 0 }, { "d", 0, 0, 0, 0, 0 }, { "1", 0, 0, 0, 0, 0 }, { "1x", 0, 0, 0, 0, 0 },
    { "1d2d", 0, 0, 0, 0, 0 }, { "-1d", 0, 0, 0, 0, 0 }, { "1d ", 0, 0, 0, 0, 0 },
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    struct vk_duration d;
    int rc = vk_duration_parse(NULL, t[i].s, &d);
    if ((rc == 0) != t[i].ok ||
        (rc == 0 && (d.years != t[i].y || d.months != t[i].m || d.days != t[i].d ||
                     d.hours != t[i].h))) {
      fprintf(stderr, "FAIL: duration '%s': rc %d, %dy %dm %dd %dh\n", t[i].s, rc, d.years,
              d.months, d.days, d.hours);
      errors++;
    }
  }
}

int
main(void)
{
  vk_progname = "test-retention";
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const struct rcase *rc = &cases[c];
    long long times[16];
    unsigned reasons[16];
    size_t n = 0;
    while (rc->times[n]) {
      times[n] = at(rc->times[n]);
      n++;
    }
    vk_retention_select(&rc->pol, times, n, reasons);
    char got[17];
    for (size_t i = 0; i < n; i++)
      got[i] = reasons[i] ? 'k' : '.';
    got[n] = '\0';
    if (strcmp(got, rc->kept) != 0) {
      fprintf(stderr, "FAIL: %s: kept %s, expected %s\n", rc->name, got, rc->kept);
      errors++;
    }
    if (!(reasons[n - 1] & VK_KEEP_NEWEST)) {
      fprintf(stderr, "FAIL: %s: the newest point is not kept as the newest\n", rc->name);
      errors++;
    }
  }
  test_durations();
  struct vk_retention none = { 0 }, some = { .within = { .hours = 1 } };
  if (vk_retention_any(&none) || !vk_retention_any(&some)) {
    fprintf(stderr, "FAIL: vk_retention_any\n");
    errors++;
  }
  char *s = vk_retention_reasons(VK_KEEP_DAILY | VK_KEEP_LAST);
  if (strcmp(s, "last,daily") != 0) {
    fprintf(stderr, "FAIL: reasons '%s'\n", s);
    errors++;
  }
  free(s);
  printf("test-retention: %zu cases, %d failures\n", sizeof cases / sizeof cases[0], errors);
  return errors ? 1 : 0;
}
