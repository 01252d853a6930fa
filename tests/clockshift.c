/* A test helper preloaded into vckpt (LD_PRELOAD=tests/clockshift.so) to
 * put its clock off by $VCKPT_TEST_CLOCK_SHIFT seconds ("31536000", "-86400"):
 * time(), gettimeofday() and clock_gettime() of the real-time clocks are
 * shifted, the monotonic ones are not.  How the tests record backups, and
 * prune them, while the host's clock is wrong (a bad RTC, a boot before
 * NTP), without faketime.
 */
#include <config.h>

#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

/* The shift asked for, in seconds. */
static time_t
shift(void)
{
  const char *s = getenv("VCKPT_TEST_CLOCK_SHIFT");
  return s ? (time_t)strtoll(s, NULL, 10) : 0;
}

/* The real clock_gettime, shifted for the real-time clocks. */
int
clock_gettime(clockid_t id, struct timespec *ts)
{
  static int (*real)(clockid_t, struct timespec *);
  if (!real)
    *(void **)&real = dlsym(RTLD_NEXT, "clock_gettime");
  int r = real(id, ts);
  if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
    ts->tv_sec += shift();
  return r;
}

/* time(), from the shifted clock. */
time_t
time(time_t *t)
{
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
    return (time_t)-1;
  if (t)
    *t = ts.tv_sec;
  return ts.tv_sec;
}

/* gettimeofday(), from the shifted clock. */
int
gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
  struct timespec ts;
  (void)tz;
  if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
    return -1;
  tv->tv_sec = ts.tv_sec;      /* glibc declares TV nonnull */
  tv->tv_usec = ts.tv_nsec / 1000;
  return 0;
}
