/* vckpt - retention rules: which backups a policy keeps.
 *
 * The rules are those of restic's forget (and Proxmox's prune): a point is
 * kept if any rule keeps it.
 *   last N      the N newest points;
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
/* Decide for N points with times TIMES (unix seconds, in manifest order,
 * oldest first) which POL keeps: REASONS[i] gets the VK_KEEP_* bits.
 */
void vk_retention_select(const struct vk_retention *pol, const long long *times, size_t n,
                         unsigned *reasons);
/* The names of the bits set in REASONS ("last,daily"), for people. */
char *vk_retention_reasons(unsigned reasons);

#endif
