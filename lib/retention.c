/* vckpt - retention rules (retention.h): pure functions. */
#include <config.h>

#include <ctype.h>
#include <stdbool.h>
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

long long
vk_duration_before(const struct vk_duration *d, long long t)
{
  time_t tt = t;
  struct tm tm;
  if (!gmtime_r(&tt, &tm))
    return t;
  tm.tm_year -= d->years;
  tm.tm_mon -= d->months;
  tm.tm_mday -= d->days;
  tm.tm_hour -= d->hours;
  return timegm(&tm);
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

/* The first of the LEN values of TAILS (ascending) greater than T, or
 * with DOWN, of the values (descending) less than T: where T goes in a
 * patience sort of runs that never go back (up), or never forward (down).
 */
static size_t
upper_bound(const long long *tails, size_t len, long long t, bool down)
{
  size_t lo = 0, hi = len;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (down ? tails[mid] < t : tails[mid] > t)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

/* Whether backup J's time contradicts backup I's, given their order. */
static bool
contradicts(const long long *times, size_t i, size_t j)
{
  return j < i ? times[j] > times[i] : times[j] < times[i];
}

size_t
vk_times_check(const long long *times, size_t n, long long now, struct vk_time_check *out)
{
  if (n == 0)
    return 0;
  /* The times not in the future, in manifest order: IDX[0..m). */
  size_t *idx = vk_xcalloc(n, sizeof *idx);
  size_t m = 0, wrong = 0;
  for (size_t i = 0; i < n; i++) {
    out[i].fault = VK_TIME_OK;
    out[i].other = i;
    if (times[i] > now) {
      out[i].fault = VK_TIME_FUTURE;
      wrong++;
    } else
      idx[m++] = i;
  }
  /* F[k]: the longest run that never goes back ending at IDX[k]; G[k]: the
   * longest starting there.  On some longest run: F + G - 1 == L; on every
   * one: the only such time at its place F in the run.
   */
  size_t *f = vk_xcalloc(m + 1, sizeof *f), *g = vk_xcalloc(m + 1, sizeof *g);
  size_t *at_place = vk_xcalloc(m + 2, sizeof *at_place);
  long long *tails = vk_xcalloc(m + 1, sizeof *tails);
  size_t len = 0, longest = 0;
  for (size_t k = 0; k < m; k++) {
    size_t pos = upper_bound(tails, len, times[idx[k]], false);
    tails[pos] = times[idx[k]];
    len += pos == len;
    f[k] = pos + 1;
  }
  longest = len;
  len = 0;
  for (size_t k = m; k-- > 0;) {
    size_t pos = upper_bound(tails, len, times[idx[k]], true);
    tails[pos] = times[idx[k]];
    len += pos == len;
    g[k] = pos + 1;
  }
  for (size_t k = 0; k < m; k++)
    if (f[k] + g[k] - 1 == longest)
      at_place[f[k]]++;
  for (size_t k = 0; k < m; k++)
    if (f[k] + g[k] - 1 != longest || at_place[f[k]] != 1) {
      out[idx[k]].fault = VK_TIME_ORDER;
      wrong++;
    }
  /* Name, for each time out of order, the nearest one it contradicts:
   * a right one if there is one (there is always one of some kind).
   */
  for (size_t k = 0; k < m; k++) {
    size_t i = idx[k];
    if (out[i].fault != VK_TIME_ORDER)
      continue;
    bool found = false;
    for (int pass = 0; pass < 2 && !found; pass++)
      for (size_t d = 1; d < n && !found; d++)
        for (int side = 0; side < 2 && !found; side++) {
          if (side == 0 ? d > i : i + d >= n)
            continue;
          size_t j = side == 0 ? i - d : i + d;
          if (out[j].fault == VK_TIME_FUTURE || (pass == 0 && out[j].fault != VK_TIME_OK) ||
              !contradicts(times, i, j))
            continue;
          out[i].other = j;
          found = true;
        }
  }
  free(idx);
  free(f);
  free(g);
  free(at_place);
  free(tails);
  return wrong;
}

const char *
vk_time_fault_name(enum vk_time_fault fault)
{
  return fault == VK_TIME_FUTURE ? "future" : fault == VK_TIME_ORDER ? "order" : NULL;
}

void
vk_retention_select(const struct vk_retention *pol, const long long *times, size_t n,
                    long long now, unsigned *reasons)
{
  if (n == 0)
    return;
  memset(reasons, 0, n * sizeof *reasons);
  struct vk_time_check *chk = vk_xcalloc(n, sizeof *chk);
  vk_times_check(times, n, now, chk);

  /* keep-last: the manifest's order is the order the points were made. */
  int last = pol->last;
  for (size_t i = n; i-- > 0 && last > 0; last--)
    reasons[i] |= VK_KEEP_LAST;

  struct { unsigned bit; int want, count; long long last; bool used; } rules[] = {
    { VK_KEEP_HOURLY, pol->hourly, pol->hourly, 0, false },
    { VK_KEEP_DAILY, pol->daily, pol->daily, 0, false },
    { VK_KEEP_WEEKLY, pol->weekly, pol->weekly, 0, false },
    { VK_KEEP_MONTHLY, pol->monthly, pol->monthly, 0, false },
    { VK_KEEP_YEARLY, pol->yearly, pol->yearly, 0, false },
  };
  const size_t nr_rules = sizeof rules / sizeof rules[0];
  const struct vk_duration *w = &pol->within;
  bool within = w->years || w->months || w->days || w->hours;
  long long cutoff = 0;

  /* The sure points, newest first: their times never go back in the
   * manifest's order, so newest first is the manifest's order backwards
   * (equal times too: later is newer).
   */
  size_t newest = n, oldest = n;
  for (size_t i = n; i-- > 0;) {
    if (chk[i].fault != VK_TIME_OK)
      continue;
    if (newest == n) {
      newest = i;
      /* keep-within: after the newest sure point's time minus the duration. */
      if (within)
        cutoff = vk_duration_before(w, times[i]);
    }
    oldest = i;
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
      reasons[oldest] |= rules[r].bit;

  /* Unsure points: kept if some time between their sure neighbours (the
   * sure point made before, PREV, and the one made after, NEXT, else now:
   * HI) would have a rule keep them.
   */
  size_t prev = n;
  for (size_t i = 0; i < n; i++) {
    if (chk[i].fault == VK_TIME_OK) {
      prev = i;
      continue;
    }
    size_t next = i + 1;
    while (next < n && chk[next].fault != VK_TIME_OK)
      next++;
    long long hi = next < n ? times[next] : now;   /* sure times are not after now */
    bool keep = within && (newest == n || hi > cutoff);
    for (size_t r = 0; r < nr_rules && !keep; r++) {
      if (rules[r].want <= 0)
        continue;
      /* After the last sure point it may be the newest of any period;
       * else only of one that ends before HI's (the sure point after it
       * is newer in HI's period), and only one the rule counts.
       */
      long long ph = period(hi, rules[r].bit);
      keep = next == n ||
             ((prev == n || period(times[prev], rules[r].bit) < ph) &&
              (rules[r].count > 0 || rules[r].last < ph));
    }
    if (keep)
      reasons[i] |= VK_KEEP_CLOCK;
  }
  /* The next incremental backup stacks on the manifest's last point. */
  reasons[n - 1] |= VK_KEEP_NEWEST;
  free(chk);
}

char *
vk_retention_reasons(unsigned reasons)
{
  static const char *const names[] = {
    "newest", "last", "hourly", "daily", "weekly", "monthly", "yearly", "within", "instant",
    "clock",
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
