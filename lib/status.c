/* vckpt - status of the domains' backups (status.h). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "fileio.h"
#include "fleet.h"
#include "repo.h"
#include "status.h"
#include "util.h"

const char *
vk_health_name(enum vk_health h)
{
  switch (h) {
  case VK_HEALTH_OK: return "ok";
  case VK_HEALTH_STALE: return "stale";
  case VK_HEALTH_FAILED: return "failed";
  case VK_HEALTH_ERROR: return "error";
  }
  return "?";
}

void
vk_status_age(long long secs, char *buf, size_t len)
{
  if (secs < 0)
    snprintf(buf, len, "in the future");
  else if (secs >= 86400)
    snprintf(buf, len, "%lldd %lldh", secs / 86400, secs % 86400 / 3600);
  else if (secs >= 3600)
    snprintf(buf, len, "%lldh %lldm", secs / 3600, secs % 3600 / 60);
  else if (secs >= 60)
    snprintf(buf, len, "%lldm", secs / 60);
  else
    snprintf(buf, len, "%llds", secs);
}

/* Add what the files of backup B allocate to *BYTES. */
static void
add_bytes(const struct vk_repo *r, const struct vk_backup *b, unsigned long long *bytes)
{
  uint64_t n;
  for (size_t i = 0; i < b->nr_disks; i++)
    if (vk_repo_file_allocated(r, b->disks[i].file, &n) == 0)
      *bytes += n;
  const char *const state[] = { b->nvram.file, b->tpm.file, b->domain_xml, b->checkpoint_xml };
  for (size_t i = 0; i < sizeof state / sizeof state[0]; i++)
    if (state[i] && vk_repo_file_allocated(r, state[i], &n) == 0)
      *bytes += n;
}

/* Keep of R's drills and copies the newest of each in D. */
static void
read_records(const struct vk_repo *r, struct vk_status_domain *d)
{
  struct vk_drill_record *drills = NULL;
  size_t nd = 0, newest = 0;
  vk_drill_load(r, &drills, &nd);
  for (size_t i = 1; i < nd; i++)
    if (drills[i].start >= drills[newest].start)
      newest = i;
  if (nd) {
    d->have_drill = true;
    d->drill = drills[newest];
    memset(&drills[newest], 0, sizeof drills[newest]);
  }
  vk_drill_records_free(drills, nd);

  struct vk_copy_record *copies = NULL;
  size_t nc = 0;
  newest = 0;
  vk_copies_load(r, &copies, &nc);
  for (size_t i = 1; i < nc; i++)
    if (copies[i].time >= copies[newest].time)
      newest = i;
  if (nc) {
    d->have_copy = true;
    d->copy = copies[newest];
    memset(&copies[newest], 0, sizeof copies[newest]);
  }
  vk_copy_records_free(copies, nc);

  d->have_run = vk_lastrun_load(r, &d->run) == 1;
}

/* Read domain D->name of repository REPO, in its own unit of work, and
 * judge it against the max age counted back from NOW.
 */
static void
read_domain(const char *repo, const struct vk_status_request *req, struct vk_status_domain *d)
{
  vk_unit_begin(d->name);
  vk_set_context("status %s", d->name);
  struct vk_policy pol;
  vk_policy_domain(req->cfg, d->name, &pol);
  const char *text = req->max_age ? req->max_age : pol.max_age ? pol.max_age : VK_STATUS_MAX_AGE;
  struct vk_duration dur;
  vk_duration_parse(NULL, text, &dur);     /* checked: the command line's, the policy's */
  long long cutoff = vk_duration_before(&dur, req->now);
  d->max_age = req->now - cutoff;
  d->max_age_text = vk_xstrdup(text);

  struct vk_repo *r = NULL;
  if (vk_repo_open_reader(repo, d->name, &r) < 0) {
    d->health = VK_HEALTH_ERROR;
    d->error = vk_xstrdup(vk_unit_message() ? vk_unit_message() : "cannot be read");
    d->exit = vk_unit_end();
    return;
  }
  if (vk_repo_writer(r))
    d->writer = vk_xstrdup(vk_repo_writer(r));
  const struct vk_manifest *m = vk_repo_manifest(r);
  d->backups = m->nr_backups;
  if (m->nr_backups) {
    const struct vk_backup *b = &m->backups[m->nr_backups - 1];
    d->have_backup = true;
    d->last.id = vk_xstrdup(b->id);
    d->last.chain = vk_xstrdup(b->chain);
    d->last.level = b->level;
    d->last.end = b->end;
    d->last.host = b->host ? vk_xstrdup(b->host) : NULL;
    d->last.host_uri = b->host_uri ? vk_xstrdup(b->host_uri) : NULL;
  }
  for (size_t i = 0; i < m->nr_backups; i++) {
    if (d->have_backup && strcmp(m->backups[i].chain, d->last.chain) == 0)
      d->chain_length++;
    add_bytes(r, &m->backups[i], &d->bytes);
  }
  read_records(r, d);
  vk_repo_close(r);

  /* A backup recorded by the attempt that made it names its host too. */
  if (d->have_backup && !d->last.host && d->have_run && d->run.ok && d->run.backup &&
      strcmp(d->run.backup, d->last.id) == 0 && d->run.host) {
    d->last.host = vk_xstrdup(d->run.host);
    d->last.host_uri = d->run.uri ? vk_xstrdup(d->run.uri) : NULL;
  }
  /* The last attempt counts when it ended after the newest backup did (a
   * backup made since by a vckpt that recorded no attempt wins).
   */
  d->failed = d->have_run && !d->run.ok && (!d->have_backup || d->run.time >= d->last.end);
  d->stale = !d->have_backup || d->last.end < cutoff;
  if (d->failed) {
    char when[64];
    vk_format_time(d->run.time, when, sizeof when);
    CLEANUP_FREE char *row = d->run.failures > 1
      ? vk_xasprintf("; %d failed attempts in a row", d->run.failures) : NULL;
    vk_error(VK_EXIT_PREFLIGHT, "the last backup attempt failed, at %s (exit status %d%s)",
             when, d->run.exit, row ? row : "");
    if (d->run.message)
      vk_warn("its error: %s", d->run.message);
  }
  if (d->stale && d->have_backup) {
    char when[64], age[32];
    vk_format_time(d->last.end, when, sizeof when);
    vk_status_age(req->now - d->last.end, age, sizeof age);
    vk_error(VK_EXIT_PREFLIGHT, "the newest backup, %s, ended %s ago (%s): older than the "
             "max age %s", d->last.id, age, when, text);
  } else if (d->stale)
    vk_error(VK_EXIT_PREFLIGHT, "no complete backup in %s", repo);
  d->health = d->failed ? VK_HEALTH_FAILED : d->stale ? VK_HEALTH_STALE : VK_HEALTH_OK;
  d->exit = vk_unit_end();
}

/* Read repository PATH into REPO, each domain in its own unit of work. */
static void
read_repo(const char *path, const struct vk_status_request *req, struct vk_status_repo *repo)
{
  static const char *const markers[] = { "manifest.xml", VK_LASTRUN_FILE, NULL };
  repo->path = vk_xstrdup(path);
  vk_unit_begin(path);
  vk_set_context("status");
  CLEANUP_STRV char **names = NULL;
  if (vk_fleet_repo_entries(path, markers, true, &names) < 0) {
    repo->error = vk_xstrdup(vk_unit_message() ? vk_unit_message() : "cannot be read");
    repo->exit = vk_unit_end();
    return;
  }
  repo->n = vk_strv_len(names);
  repo->domains = vk_xcalloc(repo->n, sizeof *repo->domains);
  for (size_t i = 0; i < repo->n; i++) {
    repo->domains[i].name = vk_xstrdup(names[i]);
    read_domain(path, req, &repo->domains[i]);
  }
  repo->exit = vk_unit_end();
}

int
vk_status_collect(const struct vk_status_request *req, struct vk_status *out)
{
  memset(out, 0, sizeof *out);
  out->now = req->now;
  struct vk_duration dur;
  if (req->max_age && vk_duration_parse("--max-age", req->max_age, &dur) < 0)
    return -1;
  CLEANUP_STRV char **repos = NULL;
  if (req->repos && req->repos[0]) {
    repos = vk_xcalloc(1, sizeof *repos);
    for (size_t i = 0; req->repos[i]; i++)
      vk_strv_push(&repos, vk_xstrdup(req->repos[i]));
  } else
    repos = vk_policy_repositories(req->cfg, vk_default_repo(NULL));

  /* Each repository once, however it is named. */
  size_t n = vk_strv_len(repos);
  char **seen = vk_xcalloc(n + 1, sizeof *seen);
  out->repos = vk_xcalloc(n, sizeof *out->repos);
  for (size_t i = 0; i < n; i++) {
    char *real = realpath(repos[i], NULL);
    seen[i] = real ? real : vk_xstrdup(repos[i]);
    bool dup = false;
    for (size_t j = 0; j < i && !dup; j++)
      dup = strcmp(seen[j], seen[i]) == 0;
    if (!dup)
      read_repo(repos[i], req, &out->repos[out->n++]);
  }
  vk_strv_free(seen);

  bool bad = false;
  for (size_t i = 0; i < out->n; i++) {
    const struct vk_status_repo *r = &out->repos[i];
    bad = bad || r->exit != 0;
    for (size_t j = 0; j < r->n; j++) {
      out->domains++;
      switch (r->domains[j].health) {
      case VK_HEALTH_OK: out->ok++; break;
      case VK_HEALTH_STALE: out->stale++; break;
      case VK_HEALTH_FAILED: out->failed++; break;
      case VK_HEALTH_ERROR: out->errors++; break;
      }
      bad = bad || r->domains[j].exit != 0;
    }
  }
  return bad ? -1 : 0;
}

/* Free what domain D holds. */
static void
domain_clear(struct vk_status_domain *d)
{
  free(d->name);
  free(d->error);
  free(d->writer);
  free(d->max_age_text);
  free(d->last.id);
  free(d->last.chain);
  free(d->last.host);
  free(d->last.host_uri);
  free(d->drill.backup);
  free(d->drill.method);
  free(d->drill.message);
  free(d->copy.backup);
  free(d->copy.destination);
  free(d->copy.message);
  vk_lastrun_clear(&d->run);
}

void
vk_status_clear(struct vk_status *st)
{
  for (size_t i = 0; i < st->n; i++) {
    struct vk_status_repo *r = &st->repos[i];
    for (size_t j = 0; j < r->n; j++)
      domain_clear(&r->domains[j]);
    free(r->domains);
    free(r->path);
    free(r->error);
  }
  free(st->repos);
  memset(st, 0, sizeof *st);
}

/* ---- node_exporter's textfile format ---- */

/* Text being built. */
struct text {
  char *s;
  size_t len, cap;
};

static void add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
add(struct text *t, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *piece = NULL;
  int n = vasprintf(&piece, fmt, ap);
  va_end(ap);
  if (n < 0)
    abort();
  if (t->len + n + 1 > t->cap) {
    t->cap = (t->len + n + 1) * 2;
    t->s = vk_xrealloc(t->s, t->cap);
  }
  memcpy(t->s + t->len, piece, n + 1);
  t->len += n;
  free(piece);
}

/* A label value as the exposition format quotes it: backslash, double
 * quote and line feed escaped (other bytes are taken as they are; control
 * characters become '?', as vckpt prints untrusted names).
 */
static void
add_label(struct text *t, const char *name, const char *value)
{
  add(t, "%s=\"", name);
  for (const unsigned char *p = (const unsigned char *)(value ? value : ""); *p; p++) {
    if (*p == '\\')
      add(t, "\\\\");
    else if (*p == '"')
      add(t, "\\\"");
    else if (*p == '\n')
      add(t, "\\n");
    else
      add(t, "%c", *p < 0x20 || *p == 0x7f ? '?' : *p);
  }
  add(t, "\"");
}

/* The values of one metric family. */
enum metric {
  M_LAST_BACKUP, M_AGE, M_MAX_AGE, M_STALE, M_CHAIN, M_BACKUPS, M_BYTES, M_RUN_FAILED,
  M_RUN_TIME, M_DRILL_TIME, M_DRILL_FAILED, M_COPY_TIME, M_COPY_FAILED,
};
static const struct {
  const char *name, *help;
} metrics[] = {
  [M_LAST_BACKUP] = { "vckpt_last_backup_timestamp_seconds",
                      "When the newest complete backup of the domain ended." },
  [M_AGE] = { "vckpt_backup_age_seconds",
              "Age of the newest complete backup when vckpt status ran." },
  [M_MAX_AGE] = { "vckpt_backup_max_age_seconds",
                  "The age after which vckpt status calls the domain's backups stale." },
  [M_STALE] = { "vckpt_backup_stale",
                "1 when the domain has no complete backup newer than its max age." },
  [M_CHAIN] = { "vckpt_chain_length", "Backups in the newest chain (its full backup and "
                "those stacked on it)." },
  [M_BACKUPS] = { "vckpt_backups", "Complete backups of the domain in the repository." },
  [M_BYTES] = { "vckpt_repository_bytes",
                "Bytes the domain's backup files allocate in the repository." },
  [M_RUN_FAILED] = { "vckpt_last_run_failed",
                     "1 when the domain's last backup attempt failed." },
  [M_RUN_TIME] = { "vckpt_last_run_timestamp_seconds",
                   "When the domain's last backup attempt ended." },
  [M_DRILL_TIME] = { "vckpt_last_drill_timestamp_seconds",
                     "When the domain's last restore drill started." },
  [M_DRILL_FAILED] = { "vckpt_last_drill_failed",
                       "1 when the domain's last restore drill failed." },
  [M_COPY_TIME] = { "vckpt_last_copy_timestamp_seconds",
                    "When the domain's last copy to another repository ended." },
  [M_COPY_FAILED] = { "vckpt_last_copy_failed",
                      "1 when the domain's last copy to another repository failed." },
};

/* The value of metric M for D; false when D has none. */
static bool
metric_value(enum metric m, long long now, const struct vk_status_domain *d, long long *v)
{
  switch (m) {
  case M_LAST_BACKUP: *v = d->last.end; return d->have_backup;
  case M_AGE: *v = now - d->last.end; return d->have_backup;
  case M_MAX_AGE: *v = d->max_age; return true;
  case M_STALE: *v = d->stale; return true;
  case M_CHAIN: *v = (long long)d->chain_length; return true;
  case M_BACKUPS: *v = (long long)d->backups; return true;
  case M_BYTES: *v = (long long)d->bytes; return true;
  case M_RUN_FAILED: *v = d->failed; return true;
  case M_RUN_TIME: *v = d->run.time; return d->have_run;
  case M_DRILL_TIME: *v = d->drill.start; return d->have_drill;
  case M_DRILL_FAILED: *v = !d->drill.ok; return d->have_drill;
  case M_COPY_TIME: *v = d->copy.time; return d->have_copy;
  case M_COPY_FAILED: *v = !d->copy.ok; return d->have_copy;
  }
  return false;
}

/* The metrics of ST as node_exporter's textfile collector reads them. */
static char *
prometheus_text(const struct vk_status *st)
{
  struct text t = { 0 };
  add(&t, "# HELP vckpt_status_timestamp_seconds When vckpt status wrote these metrics.\n"
          "# TYPE vckpt_status_timestamp_seconds gauge\n"
          "vckpt_status_timestamp_seconds %lld\n", st->now);
  for (size_t m = 0; m < sizeof metrics / sizeof metrics[0]; m++) {
    add(&t, "# HELP %s %s\n# TYPE %s gauge\n", metrics[m].name, metrics[m].help,
        metrics[m].name);
    for (size_t i = 0; i < st->n; i++)
      for (size_t j = 0; j < st->repos[i].n; j++) {
        const struct vk_status_domain *d = &st->repos[i].domains[j];
        long long v;
        if (d->health == VK_HEALTH_ERROR || !metric_value(m, st->now, d, &v))
          continue;
        add(&t, "%s{", metrics[m].name);
        add_label(&t, "repository", st->repos[i].path);
        add(&t, ",");
        add_label(&t, "domain", d->name);
        add(&t, ",");
        add_label(&t, "host", d->last.host);
        add(&t, "} %lld\n", v);
      }
  }
  /* What could not be read: a repository (domain "") or a domain. */
  add(&t, "# HELP vckpt_read_error 1 when vckpt status could not read the repository "
          "(domain \"\") or the domain's backups.\n# TYPE vckpt_read_error gauge\n");
  for (size_t i = 0; i < st->n; i++) {
    const struct vk_status_repo *r = &st->repos[i];
    for (size_t j = 0; j <= r->n; j++) {
      const struct vk_status_domain *d = j < r->n ? &r->domains[j] : NULL;
      add(&t, "vckpt_read_error{");
      add_label(&t, "repository", r->path);
      add(&t, ",");
      add_label(&t, "domain", d ? d->name : "");
      add(&t, "} %d\n", d ? d->health == VK_HEALTH_ERROR : r->error != NULL);
    }
  }
  return t.s;
}

int
vk_status_prometheus(const struct vk_status *st, const char *file)
{
  CLEANUP_FREE char *dir = vk_xstrdup(file);
  char *slash = strrchr(dir, '/');
  const char *base = slash ? slash + 1 : file;
  if (slash)
    slash[slash == dir ? 1 : 0] = '\0';
  if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
    vk_error(VK_EXIT_USAGE, "--prometheus %s: not a file name", file);
    return -1;
  }
  CLEANUP_CLOSE int dfd = vk_dir_open_trusted_base(slash ? dir : ".", "--prometheus", NULL);
  if (dfd < 0)
    return -1;
  CLEANUP_FREE char *text = prometheus_text(st);
  return vk_write_atomic_mode(dfd, base, file, text, true, 0644);
}
