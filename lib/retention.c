/* vckpt - retention rules (retention.h): pure functions. */
#include <config.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "retention.h"
#include "util.h"

bool
vk_retention_any(const struct vk_retention *pol)
{
  const struct vk_duration *w = &pol->within;
  return pol->last > 0 || pol->hourly > 0 || pol->daily > 0 || pol->weekly > 0 ||
         pol->monthly > 0 || pol->yearly > 0 ||
         w->years > 0 || w->months > 0 || w->days > 0 || w->hours > 0;
}

int
vk_duration_parse(const char *what, const char *s, struct vk_duration *out)
{
  memset(out, 0, sizeof *out);
  const char *p = s;
  unsigned seen = 0;
  if (!s || !*s)
    goto bad;
  while (*p) {
    if (!isdigit((unsigned char)*p))
      goto bad;
    long v = 0;
    while (isdigit((unsigned char)*p)) {
      v = v * 10 + (*p++ - '0');
      if (v > 100000)
        goto bad;
    }
    const char *units = "ymwdh";
    const char *u = *p ? strchr(units, *p) : NULL;
    if (!u || (seen & (1u << (u - units))))
      goto bad;
    seen |= 1u << (u - units);
    switch (*p++) {
    case 'y': out->years = v; break;
    case 'm': out->months = v; break;
    case 'w': out->days += 7 * v; break;
    case 'd': out->days += v; break;
    case 'h': out->hours = v; break;
    }
  }
  return 0;
bad:
  if (what) {
    CLEANUP_FREE char *shown = vk_printable(s ? s : "");
    vk_error(VK_EXIT_USAGE, "invalid %s '%s': expected a duration like 1y2m3w4d5h "
             "(years, months, weeks, days, hours)", what, shown);
  }
  memset(out, 0, sizeof *out);
  return -1;
}

/* The calendar period of T (UTC) for a bucket rule. */
static long long
period(long long t, unsigned rule)
{
  time_t tt = t;
  struct tm tm;
  if (!gmtime_r(&tt, &tm))
    return t;
  switch (rule) {
  case VK_KEEP_HOURLY:
    return t >= 0 ? t / 3600 : (t - 3599) / 3600;
  case VK_KEEP_DAILY:
    return (long long)(tm.tm_year + 1900) * 1000 + tm.tm_yday;
  case VK_KEEP_WEEKLY: {
    char buf[16];
    strftime(buf, sizeof buf, "%G%V", &tm);   /* ISO 8601 year and week */
    return atoll(buf);
  }
  case VK_KEEP_MONTHLY:
    return (long long)(tm.tm_year + 1900) * 12 + tm.tm_mon;
  default:
    return tm.tm_year + 1900;
  }
}

/* Sort points newest first: by time, then by manifest order. */
static const long long *sort_times;
static int
newest_first(const void *a, const void *b)
{
  size_t i = *(const size_t *)a, j = *(const size_t *)b;
  if (sort_times[i] != sort_times[j])
    return sort_times[i] > sort_times[j] ? -1 : 1;
  return i > j ? -1 : i < j ? 1 : 0;
}

void
vk_retention_select(const struct vk_retention *pol, const long long *times, size_t n,
                    unsigned *reasons)
{
  if (n == 0)
    return;
  memset(reasons, 0, n * sizeof *reasons);
  size_t *order = vk_xcalloc(n, sizeof *order);
  for (size_t i = 0; i < n; i++)
    order[i] = i;
  sort_times = times;
  qsort(order, n, sizeof *order, newest_first);

  struct { unsigned bit; int count; long long last; bool used; } rules[] = {
    { VK_KEEP_HOURLY, pol->hourly, 0, false }, { VK_KEEP_DAILY, pol->daily, 0, false },
    { VK_KEEP_WEEKLY, pol->weekly, 0, false }, { VK_KEEP_MONTHLY, pol->monthly, 0, false },
    { VK_KEEP_YEARLY, pol->yearly, 0, false },
  };
  const size_t nr_rules = sizeof rules / sizeof rules[0];

  /* keep-within: after the newest point's time minus the duration. */
  const struct vk_duration *w = &pol->within;
  bool within = w->years || w->months || w->days || w->hours;
  long long cutoff = 0;
  if (within) {
    time_t newest = times[order[0]];
    struct tm tm;
    if (gmtime_r(&newest, &tm)) {
      tm.tm_year -= w->years;
      tm.tm_mon -= w->months;
      tm.tm_mday -= w->days;
      tm.tm_hour -= w->hours;
      cutoff = timegm(&tm);
    }
  }

  int last = pol->last;
  for (size_t k = 0; k < n; k++) {
    size_t i = order[k];
    if (last > 0) {
      reasons[i] |= VK_KEEP_LAST;
      last--;
    }
    for (size_t r = 0; r < nr_rules; r++) {
      long long p = period(times[i], rules[r].bit);
      if (rules[r].count > 0 && (!rules[r].used || p != rules[r].last)) {
        reasons[i] |= rules[r].bit;
        rules[r].count--;
        rules[r].last = p;
        rules[r].used = true;
      }
    }
    if (within && times[i] > cutoff)
      reasons[i] |= VK_KEEP_WITHIN;
  }
  /* Fewer periods with points than a rule asks for: the oldest point is
   * kept too (restic 0.16 does the same), so that the rule's span holds.
   */
  for (size_t r = 0; r < nr_rules; r++)
    if (rules[r].count > 0 && rules[r].used)
      reasons[order[n - 1]] |= rules[r].bit;
  /* The next incremental backup stacks on the manifest's last point. */
  reasons[n - 1] |= VK_KEEP_NEWEST;
  free(order);
}

char *
vk_retention_reasons(unsigned reasons)
{
  static const char *const names[] = {
    "newest", "last", "hourly", "daily", "weekly", "monthly", "yearly", "within", "instant",
  };
  char *s = vk_xstrdup("");
  for (size_t b = 0; b < sizeof names / sizeof names[0]; b++)
    if (reasons & (1u << b)) {
      char *more = vk_xasprintf("%s%s%s", s, *s ? "," : "", names[b]);
      free(s);
      s = more;
    }
  return s;
}
