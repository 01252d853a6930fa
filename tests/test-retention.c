/* Unit test of the retention rules (lib/retention.c): tables of backup
 * times and policies, and the points each keeps, compared with restic's
 * meanings (a point is kept if any rule keeps it; daily = the newest point
 * of each of the last N days that have points; keep-within relative to the
 * newest point), in UTC; and times a wrong clock recorded (in the future,
 * or out of the manifest's order): which are found, and that no point
 * expires because of one.
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

/* A case of a wrong clock: the clock now, and the verdict on each time. */
struct ccase {
  const char *name;
  struct vk_retention pol;
  const char *times[16];
  const char *kept;           /* 'k' kept, 'c' kept because its time is wrong and a
                                 rule may keep it, '.' expires */
  const char *now;
  const char *faults;         /* '.' right, 'f' in the future, 'o' out of order */
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

static const struct ccase clock_cases[] = {
  /* A wrong clock.  The clock a year ahead for one backup, then right
   * again: keep-within counts from the newest point whose time is right,
   * not from the year ahead (which expired every later point).
   */
  { "clock ahead once: within 30d", { .within = D(0, 0, 30, 0) },
    { "2026-11-01 03:00", "2026-11-02 03:00", "2027-11-03 03:00", "2026-11-04 03:00",
      "2026-11-05 03:00", NULL }, "kkckk", "2026-11-05 12:00", "..f.." },
  /* keep-last counts the manifest's order: the year ahead takes no slot. */
  { "clock ahead once: last 2", { .last = 2 },
    { "2026-11-01 03:00", "2026-11-02 03:00", "2027-11-03 03:00", "2026-11-04 03:00",
      "2026-11-05 03:00", NULL }, "...kk", "2026-11-05 12:00", "..f.." },
  /* Once the clock passed the wrong time, the order still tells. */
  { "clock ahead once, passed: within 30d", { .within = D(0, 0, 30, 0) },
    { "2026-11-01 03:00", "2026-11-02 03:00", "2027-11-03 03:00", "2026-11-04 03:00",
      "2026-11-05 03:00", NULL }, "kkckk", "2028-01-01 00:00", "..o.." },
  /* The newest point made with the clock ahead, nothing after it yet. */
  { "clock ahead at the newest: within 30d", { .within = D(0, 0, 30, 0) },
    { "2026-10-01 03:00", "2026-11-01 03:00", "2026-11-02 03:00", "2027-11-03 03:00", NULL },
    ".kkc", "2026-11-03 12:00", "...f" },
  { "clock ahead at the newest: daily 2", { .daily = 2 },
    { "2026-11-01 03:00", "2026-11-02 03:00", "2026-11-02 04:00", "2027-11-03 03:00", NULL },
    "k.kc", "2026-11-03 12:00", "...f" },
  /* An unsure point expires once every time it may have is past a rule. */
  { "clock ahead once, long ago: within 30d", { .within = D(0, 0, 30, 0) },
    { "2026-06-01 03:00", "2027-06-02 03:00", "2026-06-03 03:00", "2026-11-04 03:00",
      "2026-11-05 03:00", NULL }, "...kk", "2026-11-05 12:00", ".f..." },
  /* The clock a year behind for one backup: within keeps it. */
  { "clock behind once: within 30d", { .within = D(0, 0, 30, 0) },
    { "2026-11-01 03:00", "2026-11-02 03:00", "2025-11-03 03:00", "2026-11-04 03:00", NULL },
    "kkck", "2026-11-05 12:00", "..o." },
  /* Between two sure points of one day, before the newest of it: daily 1
   * would expire it at any time it may have.
   */
  { "clock behind once, same day: daily 1", { .daily = 1 },
    { "2026-11-01 01:00", "2026-11-01 02:00", "2025-11-01 03:00", "2026-11-01 04:00", NULL },
    "...k", "2026-11-02 00:00", "..o." },
  /* It may be the newest point of November 1 (after 03:00), which daily 3
   * keeps; with daily 2 November 1 is too old whatever its time.
   */
  { "clock behind once, over a day: daily 3", { .daily = 3 },
    { "2026-10-31 03:00", "2026-11-01 03:00", "2025-06-01 03:00", "2026-11-02 03:00",
      "2026-11-03 03:00", NULL }, ".kckk", "2026-11-04 00:00", "..o.." },
  { "clock behind once, over a day: daily 2", { .daily = 2 },
    { "2026-10-31 03:00", "2026-11-01 03:00", "2025-06-01 03:00", "2026-11-02 03:00",
      "2026-11-03 03:00", NULL }, "...kk", "2026-11-04 00:00", "..o.." },
  /* One before and one after: either may be the wrong one, neither is sure. */
  { "two times disagree: daily 3", { .daily = 3 },
    { "2026-11-01 03:00", "2025-06-01 03:00", "2026-11-02 03:00", "2026-11-03 03:00", NULL },
    "cckk", "2026-11-04 00:00", "oo.." },
  /* The newest point made with the clock behind: keep-last by the order. */
  { "clock behind at the newest: last 2", { .last = 2 },
    { "2026-11-01 03:00", "2026-11-02 03:00", "2025-11-03 03:00", NULL }, ".kk",
    "2026-11-04 00:00", "..o" },
  /* The clock behind now: every time is in the future, none is sure. */
  { "clock behind now: within 1d", { .within = D(0, 0, 1, 0) },
    { "2026-11-01 03:00", "2026-11-02 03:00", "2026-11-03 03:00", NULL }, "ccc",
    "2025-11-03 00:00", "fff" },
  { "clock behind now: last 1", { .last = 1 },
    { "2026-11-01 03:00", "2026-11-02 03:00", "2026-11-03 03:00", NULL }, "..k",
    "2025-11-03 00:00", "fff" },
  /* Two points whose times disagree: neither can be trusted. */
  { "two points out of order: within 1d", { .within = D(0, 0, 1, 0) },
    { "2026-11-02 03:00", "2026-11-01 03:00", NULL }, "cc", "2026-11-03 00:00", "oo" },
  /* A time equal to now is not in the future; equal times are in order. */
  { "equal times and now", { .within = D(0, 0, 0, 1) },
    { "2026-11-01 03:00", "2026-11-01 03:00", "2026-11-01 03:00", NULL }, "kkk",
    "2026-11-01 03:00", "..." },
};

/* The backup named as contradicting a time out of order: the nearest one
 * whose time is right, else the nearest one.
 */
static void
test_contradicted_by(void)
{
  struct { const char *times[8]; size_t i, other; } t[] = {
    /* A year ahead: named against the next point, which is right. */
    { { "2026-11-01 03:00", "2027-11-02 03:00", "2026-11-03 03:00", "2026-11-04 03:00", NULL },
      1, 2 },
    /* A year behind: against the point before it. */
    { { "2026-11-01 03:00", "2026-11-02 03:00", "2025-11-03 03:00", "2026-11-04 03:00", NULL },
      2, 1 },
    /* Neither of two is right: each names the other. */
    { { "2026-11-02 03:00", "2026-11-01 03:00", NULL }, 0, 1 },
    { { "2026-11-02 03:00", "2026-11-01 03:00", NULL }, 1, 0 },
  };
  for (size_t c = 0; c < sizeof t / sizeof t[0]; c++) {
    long long times[8];
    struct vk_time_check chk[8];
    size_t n = 0;
    while (t[c].times[n]) {
      times[n] = at(t[c].times[n]);
      n++;
    }
    vk_times_check(times, n, at("2030-01-01 00:00"), chk);
    if (chk[t[c].i].fault != VK_TIME_ORDER || chk[t[c].i].other != t[c].other) {
      fprintf(stderr, "FAIL: contradicted by, case %zu: point %zu: fault %d, other %zu, "
              "expected %zu\n", c, t[c].i, (int)chk[t[c].i].fault, chk[t[c].i].other,
              t[c].other);
      errors++;
    }
  }
}

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

/* Run one case: POL over TIMES (NULL-terminated) with the clock at NOW
 * (NULL: 2030-01-01 00:00) keeps KEPT and judges the times FAULTS (NULL:
 * all right).
 */
static void
run_case(const char *name, const struct vk_retention *pol, const char *const *tstr,
         const char *kept, const char *nowstr, const char *faults)
{
  long long times[16];
  unsigned reasons[16];
  size_t n = 0;
  while (tstr[n]) {
    times[n] = at(tstr[n]);
    n++;
  }
  long long now = at(nowstr ? nowstr : "2030-01-01 00:00");
  vk_retention_select(pol, times, n, now, reasons);
  char got[17];
  for (size_t i = 0; i < n; i++)
    got[i] = (reasons[i] & VK_KEEP_CLOCK) ? 'c' : reasons[i] ? 'k' : '.';
  got[n] = '\0';
  if (strcmp(got, kept) != 0) {
    fprintf(stderr, "FAIL: %s: kept %s, expected %s\n", name, got, kept);
    errors++;
  }
  if (!(reasons[n - 1] & VK_KEEP_NEWEST)) {
    fprintf(stderr, "FAIL: %s: the newest point is not kept as the newest\n", name);
    errors++;
  }
  struct vk_time_check chk[16];
  size_t wrong = vk_times_check(times, n, now, chk), nf = 0;
  char want[17];
  for (size_t i = 0; i < n; i++) {
    got[i] = ".fo"[chk[i].fault];
    want[i] = faults ? faults[i] : '.';
    nf += chk[i].fault != VK_TIME_OK;
  }
  want[n] = '\0';
  if (wrong != nf || strcmp(got, want) != 0) {
    fprintf(stderr, "FAIL: %s: times judged %s (%zu wrong), expected %s\n", name, got, wrong,
            want);
    errors++;
  }
}

int
main(void)
{
  vk_progname = "test-retention";
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    run_case(cases[c].name, &cases[c].pol, cases[c].times, cases[c].kept, NULL, NULL);
  for (size_t c = 0; c < sizeof clock_cases / sizeof clock_cases[0]; c++) {
    const struct ccase *cc = &clock_cases[c];
    run_case(cc->name, &cc->pol, cc->times, cc->kept, cc->now, cc->faults);
  }
  test_durations();
  test_contradicted_by();
  struct vk_retention none = { 0 }, some = { .within = { .hours = 1 } };
  if (vk_retention_any(&none) || !vk_retention_any(&some)) {
    fprintf(stderr, "FAIL: vk_retention_any\n");
    errors++;
  }
  char *s = vk_retention_reasons(VK_KEEP_DAILY | VK_KEEP_LAST | VK_KEEP_CLOCK);
  if (strcmp(s, "last,daily,clock") != 0) {
    fprintf(stderr, "FAIL: reasons '%s'\n", s);
    errors++;
  }
  free(s);
  printf("test-retention: %zu cases, %d failures\n",
         sizeof cases / sizeof cases[0] + sizeof clock_cases / sizeof clock_cases[0], errors);
  return errors ? 1 : 0;
}
