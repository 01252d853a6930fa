/* vckpt - the policy file (policy.h), parsed by libconfuse. */
#include <config.h>

#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <confuse.h>

#include "fileio.h"
#include "policy.h"
#include "util.h"

/* The largest policy file read. */
#define CONFIG_MAX (1024 * 1024)

struct vk_policy_file {
  char *path;
  cfg_t *cfg;
  char ***excludes;         /* per section (index 0: the top level) */
  char ***copy_to;          /* the same, of copy-to */
};

/* The message of the first error libconfuse reports, with its line. */
struct parse_err {
  const char *path;
  char msg[512];
  bool set;
};
static struct parse_err *current_err;

/* Keep libconfuse's first error (called while parsing). */
static void on_error(cfg_t *cfg, const char *fmt, va_list ap)
  __attribute__((format(printf, 2, 0)));
static void
on_error(cfg_t *cfg, const char *fmt, va_list ap)
{
  if (!current_err || current_err->set)
    return;
  char text[400];
  vsnprintf(text, sizeof text, fmt, ap);
  CLEANUP_FREE char *shown = vk_printable_text(text);
  snprintf(current_err->msg, sizeof current_err->msg, "%s:%d: %s", current_err->path,
           cfg ? cfg->line : 0, shown);
  current_err->set = true;
}

/* The values are stored in ints: larger ones are refused, never cut. */
#define VK_CONFIG_MAX 1000000

/* A count: 0 or more. */
static int
check_count(cfg_t *cfg, cfg_opt_t *opt)
{
  long v = cfg_opt_getnint(opt, cfg_opt_size(opt) - 1);
  if (v < 0 || v > VK_CONFIG_MAX) {
    cfg_error(cfg, "%s must be between 0 and %d, not %ld", cfg_opt_name(opt), VK_CONFIG_MAX, v);
    return -1;
  }
  return 0;
}

/* A positive number; jobs as the command line's --jobs (1 to 64). */
static int
check_positive(cfg_t *cfg, cfg_opt_t *opt)
{
  long v = cfg_opt_getnint(opt, cfg_opt_size(opt) - 1);
  long max = strcmp(cfg_opt_name(opt), "jobs") == 0 ? 64 : VK_CONFIG_MAX;
  if (v < 1 || v > max) {
    cfg_error(cfg, "%s must be between 1 and %ld, not %ld", cfg_opt_name(opt), max, v);
    return -1;
  }
  return 0;
}

/* A duration like 1y2m3w4d5h. */
static int
check_duration(cfg_t *cfg, cfg_opt_t *opt)
{
  const char *s = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);
  struct vk_duration d;
  if (vk_duration_parse(NULL, s, &d) < 0) {
    cfg_error(cfg, "%s: '%s' is not a duration like 1y2m3w4d5h", cfg_opt_name(opt),
              s ? s : "");
    return -1;
  }
  return 0;
}

/* A disk target name. */
static int
check_disk(cfg_t *cfg, cfg_opt_t *opt)
{
  const char *s = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);
  size_t n = s ? strlen(s) : 0;
  bool ok = n > 0 && n <= 100 && s[0] != '.' && s[0] != '-';
  for (size_t i = 0; ok && i < n; i++)
    ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
         (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.' || s[i] == '-';
  if (!ok) {
    cfg_error(cfg, "exclude-disks: '%s' is not a disk target name", s ? s : "");
    return -1;
  }
  return 0;
}

/* A host's libvirt URI: not empty, on one line, no spaces. */
static int
check_uri(cfg_t *cfg, cfg_opt_t *opt)
{
  const char *s = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);
  size_t n = s ? strlen(s) : 0;
  bool ok = n > 0 && n <= 1024;
  for (size_t i = 0; ok && i < n; i++)
    ok = (unsigned char)s[i] > ' ' && s[i] != 0x7f;
  if (!ok) {
    CLEANUP_FREE char *shown = vk_printable(s ? s : "");
    cfg_error(cfg, "uri: '%s' is not a libvirt URI (one word, at most 1024 characters)", shown);
    return -1;
  }
  return 0;
}

/* A host section, once read: a name as checkpoints have, and a URI. */
static int
check_host(cfg_t *cfg, cfg_opt_t *opt)
{
  cfg_t *sec = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
  const char *name = sec ? cfg_title(sec) : NULL;
  size_t n = name ? strlen(name) : 0;
  bool ok = n > 0 && n <= 100 && name[0] != '.' && name[0] != '-';
  for (size_t i = 0; ok && i < n; i++)
    ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
         (name[i] >= '0' && name[i] <= '9') || name[i] == '_' || name[i] == '.' ||
         name[i] == '-';
  if (!ok) {
    CLEANUP_FREE char *shown = vk_printable(name ? name : "");
    cfg_error(cfg, "host '%s': a host's name is letters, digits, '_', '.' and '-' (at most "
              "100, not starting with '.' or '-')", shown);
    return -1;
  }
  if (cfg_size(sec, "uri") == 0) {
    cfg_error(cfg, "host '%s' has no uri (the libvirt URI vckpt connects to)", name);
    return -1;
  }
  return 0;
}

/* compress = "zstd" or "none". */
static int
check_compress(cfg_t *cfg, cfg_opt_t *opt)
{
  const char *s = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);
  if (!s || (strcmp(s, "zstd") != 0 && strcmp(s, "none") != 0)) {
    cfg_error(cfg, "compress: '%s' is not \"zstd\" or \"none\"", s ? s : "");
    return -1;
  }
  return 0;
}

/* An absolute path (scratch-dir, nbd-tls-dir). */
static int
check_abs_path(cfg_t *cfg, cfg_opt_t *opt)
{
  const char *s = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);
  if (!s || s[0] != '/') {
    cfg_error(cfg, "%s: '%s' is not an absolute path", cfg_opt_name(opt), s ? s : "");
    return -1;
  }
  return 0;
}

/* nbd-ports = "FIRST-LAST": a range of TCP ports, parsed into *MIN, *MAX;
 * -1 if S is not one.
 */
int
vk_port_range_parse(const char *s, int *min, int *max)
{
  char *end;
  errno = 0;
  long a = s && *s >= '0' && *s <= '9' ? strtol(s, &end, 10) : -1;
  if (a < 1 || a > 65535 || errno || *end != '-' || end[1] < '0' || end[1] > '9')
    return -1;
  long b = strtol(end + 1, &end, 10);
  if (errno || *end || b < a || b > 65535)
    return -1;
  *min = (int)a;
  *max = (int)b;
  return 0;
}

static int
check_ports(cfg_t *cfg, cfg_opt_t *opt)
{
  const char *s = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);
  int a, b;
  if (vk_port_range_parse(s, &a, &b) < 0) {
    cfg_error(cfg, "nbd-ports: '%s' is not a range of TCP ports such as \"10809-10899\"",
              s ? s : "");
    return -1;
  }
  return 0;
}

#define RETENTION_OPTS                                              \
  CFG_INT("keep-last", 0, CFGF_NODEFAULT),                          \
  CFG_INT("keep-hourly", 0, CFGF_NODEFAULT),                        \
  CFG_INT("keep-daily", 0, CFGF_NODEFAULT),                         \
  CFG_INT("keep-weekly", 0, CFGF_NODEFAULT),                        \
  CFG_INT("keep-monthly", 0, CFGF_NODEFAULT),                       \
  CFG_INT("keep-yearly", 0, CFGF_NODEFAULT),                        \
  CFG_STR("keep-within", NULL, CFGF_NODEFAULT),                     \
  CFG_END()

static cfg_opt_t retention_opts[] = { RETENTION_OPTS };
static cfg_opt_t retention_opts2[] = { RETENTION_OPTS };

#define POLICY_OPTS(retention)                                      \
  CFG_STR("repository", NULL, CFGF_NODEFAULT),                      \
  CFG_BOOL("quiesce", cfg_false, CFGF_NODEFAULT),                   \
  CFG_INT("full-every-backups", 0, CFGF_NODEFAULT),                 \
  CFG_INT("full-every-days", 0, CFGF_NODEFAULT),                    \
  CFG_STR_LIST("exclude-disks", NULL, CFGF_NODEFAULT),              \
  CFG_STR("max-age", NULL, CFGF_NODEFAULT),                         \
  CFG_BOOL("pull", cfg_false, CFGF_NODEFAULT),                      \
  CFG_STR("compress", NULL, CFGF_NODEFAULT),                        \
  CFG_STR("scratch-dir", NULL, CFGF_NODEFAULT),                     \
  CFG_STR_LIST("copy-to", NULL, CFGF_NODEFAULT),                    \
  CFG_STR("restic-password-file", NULL, CFGF_NODEFAULT),            \
  CFG_SEC("retention", retention, CFGF_NODEFAULT)

static cfg_opt_t domain_opts[] = {
  POLICY_OPTS(retention_opts2),
  CFG_END()
};

static cfg_opt_t host_opts[] = {
  CFG_STR("uri", NULL, CFGF_NODEFAULT),
  CFG_INT("jobs", 0, CFGF_NODEFAULT),
  CFG_END()
};

static cfg_opt_t top_opts[] = {
  POLICY_OPTS(retention_opts),
  CFG_INT("jobs", 0, CFGF_NODEFAULT),
  CFG_STR("nbd-tls-dir", NULL, CFGF_NODEFAULT),
  CFG_STR("nbd-ports", NULL, CFGF_NODEFAULT),
  CFG_INT("nbd-timeout", 0, CFGF_NODEFAULT),
  CFG_SEC("domain", domain_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
  CFG_SEC("host", host_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
  CFG_END()
};

/* Install the checks on the options of section options OPTS. */
static void
set_checks(cfg_t *cfg, const char *prefix)
{
  static const char *const counts[] = {
    "keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly",
  };
  char name[128];
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
    snprintf(name, sizeof name, "%sretention|%s", prefix, counts[i]);
    cfg_set_validate_func(cfg, name, check_count);
  }
  snprintf(name, sizeof name, "%sretention|keep-within", prefix);
  cfg_set_validate_func(cfg, name, check_duration);
  snprintf(name, sizeof name, "%sfull-every-backups", prefix);
  cfg_set_validate_func(cfg, name, check_positive);
  snprintf(name, sizeof name, "%sfull-every-days", prefix);
  cfg_set_validate_func(cfg, name, check_positive);
  snprintf(name, sizeof name, "%sexclude-disks", prefix);
  cfg_set_validate_func(cfg, name, check_disk);
  snprintf(name, sizeof name, "%smax-age", prefix);
  cfg_set_validate_func(cfg, name, check_duration);
  snprintf(name, sizeof name, "%scompress", prefix);
  cfg_set_validate_func(cfg, name, check_compress);
  snprintf(name, sizeof name, "%sscratch-dir", prefix);
  cfg_set_validate_func(cfg, name, check_abs_path);
  snprintf(name, sizeof name, "%srestic-password-file", prefix);
  cfg_set_validate_func(cfg, name, check_abs_path);
}

const char *
vk_policy_path(const char *given, bool *explicit_)
{
  const char *env = getenv("VCKPT_CONFIG");
  *explicit_ = (given && *given) || (env && *env);
  return given && *given ? given : env && *env ? env : VK_CONFIG_DEFAULT;
}

/* The list NAME of section SEC as a NULL-terminated vector. */
static char **
list_of(cfg_t *sec, const char *name)
{
  unsigned n = cfg_size(sec, name);
  char **v = vk_xcalloc(n + 1, sizeof *v);
  for (unsigned i = 0; i < n; i++)
    v[i] = vk_xstrdup(cfg_getnstr(sec, name, i));
  return v;
}

int
vk_policy_load(const char *given, struct vk_policy_file **out)
{
  *out = NULL;
  bool named;
  const char *path = vk_policy_path(given, &named);
  CLEANUP_FREE char *text = NULL;
  struct stat st;
  if (!named && stat(path, &st) < 0 && errno == ENOENT)
    return 0;
  if (vk_read_file(path, CONFIG_MAX, &text) < 0)
    return -1;
  struct vk_policy_file *c = vk_xcalloc(1, sizeof *c);
  c->path = vk_xstrdup(path);
  c->cfg = cfg_init(top_opts, 0);
  if (!c->cfg)
    abort();
  struct parse_err err = { .path = path };
  current_err = &err;
  cfg_set_error_function(c->cfg, on_error);
  set_checks(c->cfg, "");
  set_checks(c->cfg, "domain|");
  cfg_set_validate_func(c->cfg, "jobs", check_positive);
  cfg_set_validate_func(c->cfg, "host|jobs", check_positive);
  cfg_set_validate_func(c->cfg, "host|uri", check_uri);
  cfg_set_validate_func(c->cfg, "host", check_host);
  cfg_set_validate_func(c->cfg, "nbd-tls-dir", check_abs_path);
  cfg_set_validate_func(c->cfg, "nbd-ports", check_ports);
  cfg_set_validate_func(c->cfg, "nbd-timeout", check_positive);
  int rc = cfg_parse_buf(c->cfg, text);
  current_err = NULL;
  if (rc != CFG_SUCCESS) {
    vk_error(VK_EXIT_USAGE, "%s", err.set ? err.msg : "cannot parse the policy file");
    vk_policy_file_free(c);
    return -1;
  }
  unsigned n = cfg_size(c->cfg, "domain");
  c->excludes = vk_xcalloc(n + 1, sizeof *c->excludes);
  c->excludes[0] = list_of(c->cfg, "exclude-disks");
  c->copy_to = vk_xcalloc(n + 1, sizeof *c->copy_to);
  c->copy_to[0] = list_of(c->cfg, "copy-to");
  for (unsigned i = 0; i < n; i++)
    c->copy_to[i + 1] = list_of(cfg_getnsec(c->cfg, "domain", i), "copy-to");
  for (unsigned i = 0; i < n; i++)
    c->excludes[i + 1] = list_of(cfg_getnsec(c->cfg, "domain", i), "exclude-disks");
  *out = c;
  return 0;
}

const char *
vk_policy_file_name(const struct vk_policy_file *cfg)
{
  return cfg ? cfg->path : NULL;
}

unsigned
vk_policy_sections(const struct vk_policy_file *cfg)
{
  return cfg ? cfg_size(cfg->cfg, "domain") : 0;
}

/* Read the retention block of SEC into R (which it replaces as a whole). */
static void
read_retention(cfg_t *sec, struct vk_retention *r)
{
  if (cfg_size(sec, "retention") == 0)
    return;
  cfg_t *k = cfg_getsec(sec, "retention");
  memset(r, 0, sizeof *r);
  struct { const char *name; int *field; } counts[] = {
    { "keep-last", &r->last }, { "keep-hourly", &r->hourly }, { "keep-daily", &r->daily },
    { "keep-weekly", &r->weekly }, { "keep-monthly", &r->monthly },
    { "keep-yearly", &r->yearly },
  };
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
    if (cfg_size(k, counts[i].name))
      *counts[i].field = (int)cfg_getint(k, counts[i].name);
  if (cfg_size(k, "keep-within"))
    vk_duration_parse(NULL, cfg_getstr(k, "keep-within"), &r->within);
}

/* Apply the settings SEC has to OUT; IDX picks its excludes. */
static void
read_policy(const struct vk_policy_file *c, cfg_t *sec, size_t idx, struct vk_policy *out)
{
  if (cfg_size(sec, "repository"))
    out->repo = cfg_getstr(sec, "repository");
  if (cfg_size(sec, "quiesce"))
    out->quiesce = cfg_getbool(sec, "quiesce") ? 1 : 0;
  if (cfg_size(sec, "full-every-backups"))
    out->full_every_backups = (int)cfg_getint(sec, "full-every-backups");
  if (cfg_size(sec, "full-every-days"))
    out->full_every_days = (int)cfg_getint(sec, "full-every-days");
  if (cfg_size(sec, "exclude-disks"))
    out->exclude_disks = c->excludes[idx];
  if (cfg_size(sec, "max-age"))
    out->max_age = cfg_getstr(sec, "max-age");
  if (cfg_size(sec, "pull"))
    out->pull = cfg_getbool(sec, "pull") ? 1 : 0;
  if (cfg_size(sec, "compress"))
    out->compress = strcmp(cfg_getstr(sec, "compress"), "zstd") == 0 ? 1 : 0;
  if (cfg_size(sec, "scratch-dir"))
    out->scratch_dir = cfg_getstr(sec, "scratch-dir");
  if (cfg_size(sec, "copy-to"))
    out->copy_to = c->copy_to[idx];
  if (cfg_size(sec, "restic-password-file"))
    out->restic_password_file = cfg_getstr(sec, "restic-password-file");
  read_retention(sec, &out->retention);
}

void
vk_policy_domain(const struct vk_policy_file *cfg, const char *name, struct vk_policy *out)
{
  static char *none[] = { NULL };
  memset(out, 0, sizeof *out);
  out->quiesce = out->pull = out->compress = -1;
  out->exclude_disks = none;
  out->copy_to = none;
  if (!cfg)
    return;
  read_policy(cfg, cfg->cfg, 0, out);
  if (cfg_size(cfg->cfg, "jobs"))
    out->jobs = (int)cfg_getint(cfg->cfg, "jobs");
  if (cfg_size(cfg->cfg, "nbd-tls-dir"))
    out->nbd_tls_dir = cfg_getstr(cfg->cfg, "nbd-tls-dir");
  if (cfg_size(cfg->cfg, "nbd-timeout"))
    out->nbd_timeout = (int)cfg_getint(cfg->cfg, "nbd-timeout");
  if (cfg_size(cfg->cfg, "nbd-ports"))
    vk_port_range_parse(cfg_getstr(cfg->cfg, "nbd-ports"), &out->port_min, &out->port_max);
  unsigned n = cfg_size(cfg->cfg, "domain");
  int pick = -1;
  for (unsigned i = 0; i < n && pick < 0; i++)
    if (strcmp(cfg_title(cfg_getnsec(cfg->cfg, "domain", i)), name) == 0)
      pick = (int)i;
  for (unsigned i = 0; i < n && pick < 0; i++)
    if (fnmatch(cfg_title(cfg_getnsec(cfg->cfg, "domain", i)), name, 0) == 0)
      pick = (int)i;
  if (pick < 0)
    return;
  cfg_t *sec = cfg_getnsec(cfg->cfg, "domain", pick);
  out->section = cfg_title(sec);
  read_policy(cfg, sec, pick + 1, out);
}

unsigned
vk_policy_hosts(const struct vk_policy_file *cfg)
{
  return cfg ? cfg_size(cfg->cfg, "host") : 0;
}

void
vk_policy_host(const struct vk_policy_file *cfg, unsigned i, struct vk_policy_host *out)
{
  cfg_t *sec = cfg_getnsec(cfg->cfg, "host", i);
  out->name = cfg_title(sec);
  out->uri = cfg_getstr(sec, "uri");
  out->jobs = cfg_size(sec, "jobs") ? (int)cfg_getint(sec, "jobs") : 0;
}

char **
vk_policy_repositories(const struct vk_policy_file *cfg, const char *fallback)
{
  char **v = vk_xcalloc(1, sizeof *v);
  vk_strv_push(&v, vk_xstrdup(cfg && cfg_size(cfg->cfg, "repository")
                              ? cfg_getstr(cfg->cfg, "repository") : fallback));
  for (unsigned i = 0; cfg && i < cfg_size(cfg->cfg, "domain"); i++) {
    cfg_t *sec = cfg_getnsec(cfg->cfg, "domain", i);
    if (cfg_size(sec, "repository") && !vk_strv_contains(v, cfg_getstr(sec, "repository")))
      vk_strv_push(&v, vk_xstrdup(cfg_getstr(sec, "repository")));
  }
  return v;
}

void
vk_policy_file_free(struct vk_policy_file *cfg)
{
  if (!cfg)
    return;
  if (cfg->excludes) {
    for (unsigned i = 0; i <= cfg_size(cfg->cfg, "domain"); i++)
      vk_strv_free(cfg->excludes[i]);
    free(cfg->excludes);
  }
  if (cfg->copy_to) {
    for (unsigned i = 0; i <= cfg_size(cfg->cfg, "domain"); i++)
      vk_strv_free(cfg->copy_to[i]);
    free(cfg->copy_to);
  }
  cfg_free(cfg->cfg);
  free(cfg->path);
  free(cfg);
}
