/* vckpt - retention rules: which backups a policy keeps.
 *
 * The rules are those of restic's forget (and Proxmox's prune): a point is
 * kept if any rule keeps it.
 *   last N      the N newest points: the last N of the manifest, which
 *               lists them in the order they were made, whatever their
 *               times;
 *   hourly N, daily N, weekly N, monthly N, yearly N
 *               the newest point of each of the last N hours (days, ISO
 *               weeks, months, years) that have points; when fewer such
 *               periods exist than N, the oldest point is kept as well;
 *   within D    every point whose time is after (newest point's time - D),
 *               D like "1y2m3w4d5h" (calendar years, months, weeks, days,
 *               hours).
 * Periods are calendar periods in UTC of the time the repository recorded
 * for the backup (its start); ties (equal times) are broken by the order
 * of the manifest, later is newer.  The newest point is always kept
 * (VK_KEEP_NEWEST): the next incremental backup stacks on it.
 *
 * A wrong clock: the manifest's order is the order the backups were made
 * in, so a recorded time that disagrees with it, or that is later than
 * the host's clock now, cannot be right (vk_times_check).  Such a point
 * is "unsure"; the others are "sure".  The time rules decide the sure
 * points among themselves (keep-within counts from the newest sure
 * point), and an unsure point expires only if it would expire at every
 * time its neighbours allow (after the sure point made before it, before
 * the sure point made after it, else not after now): otherwise it is kept
 * (VK_KEEP_CLOCK).  So no point expires because of a time that cannot be
 * right, and an unsure point goes once the rules have moved past it.
 * Pure functions (tests/test-retention.c).
 */
#ifndef VCKPT_RETENTION_H
#define VCKPT_RETENTION_H

#include <stdbool.h>
#include <stddef.h>

/* Why a point is kept: a set of these bits, 0 when it expires. */
enum {
  VK_KEEP_NEWEST = 1 << 0,
  VK_KEEP_LAST = 1 << 1,
  VK_KEEP_HOURLY = 1 << 2,
  VK_KEEP_DAILY = 1 << 3,
  VK_KEEP_WEEKLY = 1 << 4,
  VK_KEEP_MONTHLY = 1 << 5,
  VK_KEEP_YEARLY = 1 << 6,
  VK_KEEP_WITHIN = 1 << 7,
  VK_KEEP_INSTANT = 1 << 8,   /* a domain runs from it (restore --instant): prune.c */
  VK_KEEP_CLOCK = 1 << 9,     /* its time cannot be right, and a time rule may keep it */
};

/* What is wrong with the time recorded for a backup. */
enum vk_time_fault {
  VK_TIME_OK,                 /* agrees with the order of the backups and the clock */
  VK_TIME_FUTURE,             /* later than the host's clock now */
  VK_TIME_ORDER,              /* disagrees with the order the backups were made in */
};

/* The verdict on one recorded time. */
struct vk_time_check {
  enum vk_time_fault fault;
  size_t other;               /* VK_TIME_ORDER: the nearest backup whose time
                                 contradicts it (a sure one if any) */
};

/* A duration of calendar units, as --keep-within takes it. */
struct vk_duration {
  int years, months, days, hours;
};

/* A retention policy; 0 (and an empty duration) leaves a rule out. */
struct vk_retention {
  int last, hourly, daily, weekly, monthly, yearly;
  struct vk_duration within;
};

/* Whether POL has any rule. */
bool vk_retention_any(const struct vk_retention *pol);
/* Parse "1y2m3w4d5h" (each unit at most once, in any order, at least
 * one); 0, or -1 with a usage error naming WHAT (none when WHAT is NULL).
 */
int vk_duration_parse(const char *what, const char *s, struct vk_duration *out);
/* The time D before T (unix seconds), counted in UTC calendar units. */
long long vk_duration_before(const struct vk_duration *d, long long t);
/* Judge N recorded times TIMES (unix seconds, in manifest order, oldest
 * first) against that order and the clock's NOW: a time later than NOW is
 * VK_TIME_FUTURE; of the others, those that belong to every longest run
 * of times that never go back (in manifest order) are right, the rest
 * VK_TIME_ORDER.  Fills OUT[i]; returns how many are wrong.
 */
size_t vk_times_check(const long long *times, size_t n, long long now,
                      struct vk_time_check *out);
/* "future" or "order" (for --json), NULL for VK_TIME_OK. */
const char *vk_time_fault_name(enum vk_time_fault fault);
/* Decide for N points with times TIMES (unix seconds, in manifest order,
 * oldest first) which POL keeps, the clock saying NOW: REASONS[i] gets the
 * VK_KEEP_* bits.
 */
void vk_retention_select(const struct vk_retention *pol, const long long *times, size_t n,
                         long long now, unsigned *reasons);
/* The names of the bits set in REASONS ("last,daily"), for people. */
char *vk_retention_reasons(unsigned reasons);

#endif
