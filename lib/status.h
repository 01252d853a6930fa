/* vckpt - status: what the repositories say of each domain's backups, for
 * people and for monitoring.  Offline: it reads what the repositories
 * record (manifest, last-run.json, drills.json, copies.json), under each
 * domain's lock taken shared, and never writes them; a writer running (a
 * backup) does not keep it out (vk_repo_open_reader).
 *
 * A domain is "stale" when its newest complete backup ended before the
 * max age (--max-age, else its policy's max-age, else VK_STATUS_MAX_AGE)
 * counted back from now, or it has none; "failed" when its last backup
 * attempt failed after its newest backup (lastrun.h).  Either is reported
 * as an error of status VK_EXIT_PREFLIGHT in the domain's own unit of work
 * (util.h); a repository or domain that cannot be read is reported as
 * what it is (a missing repository 3, a damaged manifest 1), and the
 * others are still read.
 */
#ifndef VCKPT_STATUS_H
#define VCKPT_STATUS_H

#include <stdbool.h>
#include <stddef.h>

#include "copies.h"
#include "drill.h"
#include "lastrun.h"
#include "manifest.h"
#include "policy.h"
#include "retention.h"

/* The max age when neither --max-age nor the policy gives one. */
#define VK_STATUS_MAX_AGE "26h"

/* How a domain stands, the worst first. */
enum vk_health {
  VK_HEALTH_OK,
  VK_HEALTH_STALE,        /* no backup newer than the max age */
  VK_HEALTH_FAILED,       /* the last attempt failed */
  VK_HEALTH_ERROR,        /* its directory or manifest could not be read */
};
/* "ok", "stale", "failed", "error". */
const char *vk_health_name(enum vk_health h);
/* An age of SECS seconds for people: "3d 2h", "5h 12m", "40m", "12s",
 * "in the future" (a negative one: the clock went back).
 */
void vk_status_age(long long secs, char *buf, size_t len);

/* One domain of a repository. */
struct vk_status_domain {
  char *name;
  enum vk_health health;
  int exit;                   /* the status of its unit: 0, 4, or the read error's */
  char *error;                /* why it could not be read (VK_HEALTH_ERROR) */
  char *writer;               /* a writer (backup, prune) held its lock, or NULL */
  bool stale, failed;         /* both may hold */
  long long max_age;          /* seconds, for the record (now - cut-off) */
  char *max_age_text;         /* as given: "26h" */
  /* The newest complete backup (have_backup). */
  bool have_backup;
  struct {
    char *id, *chain, *host, *host_uri;
    enum vk_level level;
    long long end;
  } last;
  size_t backups, chain_length;
  unsigned long long bytes;   /* what the files the manifest lists allocate */
  /* The newest drill, copy and attempt recorded. */
  bool have_drill, have_copy, have_run;
  struct vk_drill_record drill;
  struct vk_copy_record copy;
  struct vk_lastrun run;
};

/* One repository. */
struct vk_status_repo {
  char *path;                 /* as named */
  int exit;                   /* 0, or why it could not be listed (3, 1...) */
  char *error;
  size_t n;
  struct vk_status_domain *domains;   /* sorted by name */
};

struct vk_status_request {
  char *const *repos;         /* --repo, or NULL: the default and the policy's */
  const struct vk_policy_file *cfg;   /* may be NULL */
  const char *max_age;        /* --max-age, or NULL */
  long long now;
};

struct vk_status {
  long long now;
  size_t n;
  struct vk_status_repo *repos;
  size_t domains, ok, stale, failed, errors;   /* counts */
};

/* The repositories REQ names (--repo, else the policy's default one, or
 * vk_default_repo's, and every one a domain section names; each once),
 * each domain of each read into OUT.  Reading errors and problems are
 * reported in each domain's unit of work (see above).  0 when every
 * domain is ok, else -1 (OUT is complete either way; a usage error, such
 * as a bad --max-age, leaves it empty).
 */
int vk_status_collect(const struct vk_status_request *req, struct vk_status *out);
void vk_status_clear(struct vk_status *st);

/* Write ST to FILE in node_exporter's textfile format (one metric family
 * per line group, labels repository, domain and host), crash-safely and
 * atomically (a scrape sees the old file or the new one), mode 0644, in a
 * directory only root (or vckpt's user) may change; FILE itself is
 * replaced, never followed if a link.  0, or -1 (reported).
 */
int vk_status_prometheus(const struct vk_status *st, const char *file);

#endif
