/* vckpt - commands on the backup repository: list-backups, verify, restore (also
 * of a copy in a restic repository: --from). */
#include <config.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "drill.h"
#include "engine.h"
#include "fleet.h"
#include "instant.h"
#include "repo.h"
#include "restic.h"
#include "restore.h"
#include "runall.h"
#include "vckpt.h"
#include "verify.h"
#include "virt.h"

static char *opt_repo;
/* A copy in a restic repository (lib/restic.h) instead of the repository. */
static char *opt_from, *opt_snapshot, *opt_password_file;

#define FROM_OPTIONS(n) \
  { "from", '\0', POPT_ARG_STRING, &opt_from, n, \
    "the copy in this restic repository (vckpt copy) instead of --repo", \
    "restic:REPOSITORY" }, \
  { "snapshot", '\0', POPT_ARG_STRING, &opt_snapshot, n + 1, \
    "with --from: this restic snapshot (default: the domain's newest copy)", "ID" }, \
  { "password-file", '\0', POPT_ARG_STRING, &opt_password_file, n + 2, \
    "with --from: restic's password in FILE (default: restic's RESTIC_PASSWORD_FILE...)", \
    "FILE" }

/* The copy --from names for DOMAIN in *REQ: 1; 0 without --from; -1 on a
 * usage error (reported).
 */
static int
from_request(const char *domain, struct vk_restic_request *req)
{
  if (!opt_from) {
    if (opt_snapshot || opt_password_file) {
      vk_error(VK_EXIT_USAGE, "--snapshot and --password-file go with --from");
      return -1;
    }
    return 0;
  }
  if (!vk_restic_is(opt_from)) {
    vk_error(VK_EXIT_USAGE, "--from takes restic:REPOSITORY; a copy in a directory is a "
             "repository: --repo DIR");
    return -1;
  }
  if (opt_repo) {
    vk_error(VK_EXIT_USAGE, "--repo and --from cannot be used together");
    return -1;
  }
  *req = (struct vk_restic_request) {
    .where = opt_from, .password_file = opt_password_file, .domain = domain,
    .snapshot = opt_snapshot,
  };
  return 1;
}

/* The snapshot a command read, for --json. */
static json_object *
snapshot_json(const struct vk_restic_snapshot *s)
{
  json_object *o = json_object_new_object();
  json_object_object_add(o, "id", vk_json_string(s->id));
  json_object_object_add(o, "time", vk_json_string(s->time));
  json_object_object_add(o, "backup", vk_json_string(s->backup));
  json_object_object_add(o, "host", vk_json_string(s->host));
  return o;
}

/* ---- list-backups ---- */

static const struct poptOption list_options[] = {
  { "repo", '\0', POPT_ARG_STRING, &opt_repo, 1,
    "backup repository (default: $VCKPT_REPO, else " VK_VAR_DIR ")", "DIR" },
  FROM_OPTIONS(2),
  POPT_TABLEEND
};

/* The last drill of backup ID among R (N of them), or NULL. */
static const struct vk_drill_record *
find_drill(const struct vk_drill_record *r, size_t n, const char *id)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp(r[i].backup, id) == 0)
      return &r[i];
  return NULL;
}

/* The JSON of a drill record, or JSON null. */
static json_object *
drill_json(const struct vk_drill_record *d)
{
  if (!d)
    return NULL;
  json_object *o = json_object_new_object();
  json_object_object_add(o, "result", json_object_new_string(d->ok ? "booted" : "failed"));
  json_object_object_add(o, "method", vk_json_string(d->method));
  json_object_object_add(o, "start", json_object_new_int64(d->start));
  json_object_object_add(o, "seconds", json_object_new_double(d->seconds));
  json_object_object_add(o, "message", vk_json_string(d->message));
  return o;
}

/* The JSON of a backup of the manifest; FAULT: what is wrong with its time. */
static json_object *
backup_json(const struct vk_backup *b, const struct vk_drill_record *drill,
            enum vk_time_fault fault)
{
  json_object *o = json_object_new_object();
  json_object_object_add(o, "id", vk_json_string(b->id));
  json_object_object_add(o, "chain", vk_json_string(b->chain));
  json_object_object_add(o, "level", json_object_new_string(vk_level_name(b->level)));
  json_object_object_add(o, "checkpoint", vk_json_string(b->checkpoint));
  json_object_object_add(o, "since", vk_json_string(b->since));
  json_object_object_add(o, "parent", vk_json_string(b->parent));
  json_object_object_add(o, "start", json_object_new_int64(b->start));
  json_object_object_add(o, "end", json_object_new_int64(b->end));
  json_object_object_add(o, "time_fault", vk_json_string(vk_time_fault_name(fault)));
  json_object_object_add(o, "state", json_object_new_string("complete"));
  json_object_object_add(o, "note", vk_json_string(b->note));
  json_object_object_add(o, "differential_base", vk_json_string(b->base.checkpoint));
  json_object_object_add(o, "host", vk_json_string(b->host));
  json_object_object_add(o, "host_uri", vk_json_string(b->host_uri));
  json_object_object_add(o, "quiesced", b->quiesced == VK_QUIESCED_UNKNOWN ? NULL
                         : json_object_new_boolean(b->quiesced == VK_QUIESCED_YES));
  json_object *disks = json_object_new_array();
  for (size_t i = 0; i < b->nr_disks; i++) {
    const struct vk_backup_disk *d = &b->disks[i];
    json_object *jd = json_object_new_object();
    json_object_object_add(jd, "target", vk_json_string(d->target));
    json_object_object_add(jd, "file", vk_json_string(d->file));
    json_object_object_add(jd, "backing", vk_json_string(d->backing));
    json_object_object_add(jd, "virtual_size", json_object_new_int64(d->virtual_size));
    json_object_object_add(jd, "bytes", json_object_new_int64(d->bytes));
    json_object_object_add(jd, "checksum", vk_json_string(d->checksum));
    json_object_object_add(jd, "checksum_type",
                           json_object_new_string(vk_sum_name(d->checksum_type)));
    /* The key of old output, for records of that algorithm alone. */
    if (d->checksum_type == VK_SUM_SHA256)
      json_object_object_add(jd, "sha256", vk_json_string(d->checksum));
    json_object_object_add(jd, "size", d->file_size ? json_object_new_int64(d->file_size) : NULL);
    json_object_object_add(jd, "guest_bytes", d->has_guest_bytes
                           ? json_object_new_int64(d->guest_bytes) : NULL);
    json_object_object_add(jd, "ratio", d->has_guest_bytes && d->guest_bytes
                           ? json_object_new_double((double)d->bytes / d->guest_bytes) : NULL);
    json_object_array_add(disks, jd);
  }
  json_object_object_add(o, "disks", disks);
  json_object_object_add(o, "last_drill", drill_json(drill));
  return o;
}

/* The compression ratio of backup B, its files' bytes against the guest
 * data they hold, in BUF: "0.41", or "-" when a file's is not recorded
 * (an older vckpt made it) or they hold no data.
 */
static void
ratio(const struct vk_backup *b, char *buf, size_t len)
{
  unsigned long long bytes = 0, guest = 0;
  bool known = true;
  for (size_t j = 0; j < b->nr_disks; j++) {
    bytes += b->disks[j].bytes;
    guest += b->disks[j].guest_bytes;
    known &= b->disks[j].has_guest_bytes;
  }
  if (known && guest)
    snprintf(buf, len, "%.2f", (double)bytes / guest);
  else
    snprintf(buf, len, "-");
}

/* Widen *W to hold S. */
static void
widen(int *w, const char *s)
{
  int len = (int)strlen(s);
  if (len > *w)
    *w = len;
}

/* The table of list-backups: each column as wide as its widest cell. */
static void
print_backups(const struct vk_manifest *m, const struct vk_drill_record *drills, size_t nd)
{
  static const char *const head[] = { "CHAIN", "BACKUP", "LEVEL", "CHECKPOINT", "SINCE", "END",
                                      "SIZE" };
  int w[7];
  for (size_t c = 0; c < 7; c++)
    w[c] = (int)strlen(head[c]);
  for (size_t i = 0; i < m->nr_backups; i++) {
    const struct vk_backup *b = &m->backups[i];
    unsigned long long bytes = 0;
    for (size_t j = 0; j < b->nr_disks; j++)
      bytes += b->disks[j].bytes;
    char when[64], size[32];
    vk_format_time(b->end, when, sizeof when);
    vk_human_size(bytes, size, sizeof size);
    const char *cell[] = { b->chain, b->id, vk_level_name(b->level), b->checkpoint,
                           b->since ? b->since : "-", when, size };
    for (size_t c = 0; c < 7; c++)
      widen(&w[c], cell[c]);
  }
  vk_printf("%-*s %-*s %-*s %-*s %-*s %-*s %-*s %s\n", w[0], head[0], w[1], head[1], w[2],
            head[2], w[3], head[3], w[4], head[4], w[5], head[5], w[6], head[6], "RATIO");
  for (size_t i = 0; i < m->nr_backups; i++) {
    const struct vk_backup *b = &m->backups[i];
    unsigned long long bytes = 0;
    for (size_t j = 0; j < b->nr_disks; j++)
      bytes += b->disks[j].bytes;
    char when[64], size[32], r[32];
    vk_format_time(b->end, when, sizeof when);
    vk_human_size(bytes, size, sizeof size);
    ratio(b, r, sizeof r);
    vk_printf("%-*s %-*s %-*s %-*s %-*s %-*s %-*s %s\n", w[0], b->chain, w[1], b->id,
              w[2], vk_level_name(b->level), w[3], b->checkpoint, w[4], b->since ? b->since : "-",
              w[5], when, w[6], size, r);
    if (b->note) {
      CLEANUP_FREE char *note = vk_printable(b->note);
      vk_printf("    note: %s\n", note);
    }
    if (b->base.checkpoint)
      vk_printf("    differentials from: %s\n", b->base.checkpoint);
    if (b->quiesced == VK_QUIESCED_YES)   /* --json also says "false" */
      vk_printf("    quiesced: yes\n");
    const struct vk_drill_record *d = find_drill(drills, nd, b->id);
    if (d) {
      char at[64];
      vk_format_time(d->start, at, sizeof at);
      CLEANUP_FREE char *msg = d->message ? vk_printable(d->message) : NULL;
      vk_printf("    last drill: %s, %s, %.1f s (%s)%s%s\n", at,
                d->ok ? "booted" : "FAILED", d->seconds, d->method, msg ? ": " : "",
                msg ? msg : "");
    }
  }
}

/* Print the backups of manifest M (WHERE: its repository, or SNAP's copy)
 * with their last drills.
 */
static void
show_backups(const struct vk_manifest *m, const char *where,
             const struct vk_restic_snapshot *snap, const struct vk_drill_record *drills,
             size_t nd)
{
  /* Times a wrong clock recorded: a warning each (prune places them by
   * the manifest's order).
   */
  long long now = time(NULL);
  size_t wrong = 0;
  CLEANUP_FREE struct vk_time_check *times = vk_manifest_check_times(m, now, &wrong);
  for (size_t i = 0; wrong && i < m->nr_backups; i++)
    if (times[i].fault != VK_TIME_OK) {
      CLEANUP_FREE char *why = vk_manifest_time_fault(m, i, &times[i], now);
      vk_warn("%s; %s", why, VK_TIME_FAULT_FIX);
    }
  if (vk_json) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "domain", vk_json_string(m->domain));
    json_object_object_add(o, "uuid", vk_json_string(m->uuid));
    json_object_object_add(o, "repository", vk_json_string(where));
    if (snap)
      json_object_object_add(o, "snapshot", snapshot_json(snap));
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < m->nr_backups; i++)
      json_object_array_add(arr, backup_json(&m->backups[i],
                                             find_drill(drills, nd, m->backups[i].id),
                                             times[i].fault));
    json_object_object_add(o, "backups", arr);
    vk_out_json(o);
  } else {
    print_backups(m, drills, nd);
    if (snap && !vk_quiet)
      vk_printf("copy in %s, snapshot %s of %s (host %s)\n", where, snap->id,
                snap->time ? snap->time : "?", snap->host ? snap->host : "?");
  }
}

static int
cmd_list_backups(struct cmd_ctx *ctx, int argc, const char **argv)
{
  const char *domain = argv[0];
  struct vk_repo *repo = NULL;
  vk_set_context("list-backups %s", domain);
  struct vk_restic_request rq;
  int from = from_request(domain, &rq);
  if (from < 0)
    return -1;
  if (from) {
    struct vk_restic_snapshot snap;
    struct vk_manifest m;
    if (vk_restic_manifest(&rq, &snap, &m) < 0)
      return -1;
    show_backups(&m, opt_from, &snap, NULL, 0);
    vk_manifest_clear(&m);
    vk_restic_snapshot_clear(&snap);
    return 0;
  }
  if (vk_repo_open(vk_default_repo(opt_repo), domain, false, false, &repo) < 0)
    return -1;
  struct vk_drill_record *drills = NULL;
  size_t nd = 0;
  vk_drill_load(repo, &drills, &nd);
  show_backups(vk_repo_manifest(repo), vk_repo_where(repo), NULL, drills, nd);
  vk_drill_records_free(drills, nd);
  vk_repo_close(repo);
  return 0;
}

static const char *const list_exclusive[] = { "repo", "from", NULL };

const struct cmd_entry cmd_list_backups_entry = {
  .name = "list-backups",
  .args = "DOMAIN",
  .summary = "List the chains and complete backups of a domain in the repository",
  .options = list_options,
  .exclusive = list_exclusive,
  .min_args = 1, .max_args = 1,
  .exec = cmd_list_backups,
};

/* ---- verify ---- */

static int opt_all, opt_jobs = 1, opt_boot, opt_timeout = 300;
static char *opt_at, *opt_marker;

static const struct poptOption verify_options[] = {
  { "repo", '\0', POPT_ARG_STRING, &opt_repo, 1,
    "backup repository (default: $VCKPT_REPO, else " VK_VAR_DIR ")", "DIR" },
  { "all", '\0', POPT_ARG_NONE, &opt_all, 2,
    "every domain that has backups in the repository, with one summary", NULL },
  { "jobs", '\0', POPT_ARG_INT, &opt_jobs, 3,
    "with --all: verify N domains at once (default 1)", "N" },
  { "boot", '\0', POPT_ARG_NONE, &opt_boot, 4,
    "restore drill: boot the backup in a transient domain without copying it", NULL },
  { "at", '\0', POPT_ARG_STRING, &opt_at, 5,
    "with --boot: this backup (its id, or the checkpoint it created; default: newest)",
    "ID|CHK" },
  { "timeout", '\0', POPT_ARG_INT, &opt_timeout, 6,
    "with --boot: seconds the guest has to answer (default 300)", "S" },
  { "marker", '\0', POPT_ARG_STRING, &opt_marker, 7,
    "with --boot: wait for TEXT on the serial console instead of the guest agent", "TEXT" },
  FROM_OPTIONS(8),
  POPT_TABLEEND
};

/* verify DOMAIN --boot: a restore drill. */
static int
verify_boot(struct cmd_ctx *ctx, const char *domain)
{
  vk_set_context("verify --boot %s", domain);
  if (opt_timeout < 1 || opt_timeout > 86400) {
    vk_error(VK_EXIT_USAGE, "--timeout must be between 1 and 86400 seconds");
    return -1;
  }
  if ((opt_at && vk_check_lookup_name("backup", opt_at) < 0) ||
      (opt_marker && vk_check_lookup_name("marker", opt_marker) < 0))
    return -1;
  virConnectPtr conn = ctx_connect(ctx);
  if (!conn)
    return -1;
  struct vk_drill_request req = {
    .repo_dir = vk_default_repo(opt_repo), .domain = domain, .at = opt_at,
    .marker = opt_marker, .timeout = opt_timeout,
  };
  struct vk_drill_record res;
  int r = vk_drill(conn, &req, &res);
  if (r == 0) {
    if (vk_json) {
      json_object *o = drill_json(&res);
      json_object_object_add(o, "domain", vk_json_string(domain));
      json_object_object_add(o, "backup", vk_json_string(res.backup));
      vk_out_json(o);
    } else if (!vk_quiet)
      vk_printf("Backup %s of %s booted in %.1f s (%s); nothing of the drill is left\n",
                res.backup, domain, res.seconds,
                strcmp(res.method, "agent") == 0 ? "the guest agent answered"
                                                 : "the console marker showed");
  }
  free(res.backup);
  free(res.method);
  free(res.message);
  return r;
}

/* The columns of a domain's row in the summary of verify --all. */
static char *
verify_columns(json_object *res, int status)
{
  json_object *b = NULL, *f = NULL, *e = NULL;
  if (!res || !json_object_object_get_ex(res, "backups", &b) ||
      !json_object_object_get_ex(res, "files", &f) ||
      !json_object_object_get_ex(res, "errors", &e))
    return vk_xasprintf("%7s %5s %8s", "-", "-", "-");
  return vk_xasprintf("%7lld %5lld %8lld", (long long)json_object_get_int64(b),
                      (long long)json_object_get_int64(f), (long long)json_object_get_int64(e));
}

/* verify --all: every domain directory of the repository. */
static int
verify_all(struct cmd_ctx *ctx)
{
  const char *repo = vk_default_repo(opt_repo);
  CLEANUP_STRV char **names = NULL;
  if (vk_fleet_repo_domains(repo, &names) < 0)
    return -1;
  const char *args[] = { "verify", "--repo", repo, NULL };
  struct run_all ra = {
    .verb = "verify", .args = args, .jobs = opt_jobs, .noun = "verified",
    .header = "BACKUPS FILES PROBLEMS", .columns = verify_columns,
  };
  return run_all(ctx, names, &ra);
}

static int
cmd_verify(struct cmd_ctx *ctx, int argc, const char **argv)
{
  if (opt_all && opt_boot) {
    vk_error(VK_EXIT_USAGE, "--boot and --all cannot be used together");
    return -1;
  }
  if (opt_all && (opt_from || opt_snapshot || opt_password_file)) {
    vk_error(VK_EXIT_USAGE, "--from verifies the copy of one DOMAIN, not --all");
    return -1;
  }
  if (opt_all)
    return verify_all(ctx);
  const char *domain = argv[0];
  if (opt_boot && opt_from) {
    vk_error(VK_EXIT_USAGE, "--boot and --from cannot be used together");
    return -1;
  }
  if (opt_boot)
    return verify_boot(ctx, domain);
  if (cmd_option_given("at") || cmd_option_given("timeout") || cmd_option_given("marker")) {
    vk_error(VK_EXIT_USAGE, "--at, --timeout and --marker go with --boot");
    return -1;
  }
  struct vk_report rep;
  size_t nb, nf;
  vk_set_context("verify %s", domain);
  struct vk_restic_request rq;
  struct vk_restic_snapshot snap = { 0 };
  int from = from_request(domain, &rq);
  if (from < 0)
    return -1;
  if (from ? vk_restic_verify(&rq, &rep, &snap, &nb, &nf) < 0
           : vk_verify(vk_default_repo(opt_repo), domain, &rep, &nb, &nf) < 0) {
    vk_report_clear(&rep);
    vk_restic_snapshot_clear(&snap);
    return -1;
  }
  if (vk_json) {
    json_object *o = vk_report_json(&rep);
    json_object_object_add(o, "backups", json_object_new_int64(nb));
    json_object_object_add(o, "files", json_object_new_int64(nf));
    if (from)
      json_object_object_add(o, "snapshot", snapshot_json(&snap));
    vk_out_json(o);
  } else {
    print_verify_report(&rep, nb, nf);
  }
  int r = 0;
  if (rep.errors) {
    if (vk_out_flush() == 0)
      vk_error(VK_EXIT_FAILURE, "%zu problem%s found in the %s", rep.errors,
               rep.errors == 1 ? "" : "s", from ? "copy" : "repository");
    r = -1;
  }
  vk_report_clear(&rep);
  vk_restic_snapshot_clear(&snap);
  return r;
}

const struct cmd_entry cmd_verify_entry = {
  .name = "verify",
  .args = "DOMAIN|--all",
  .summary = "Check every backup of a domain: files, checksums, chain links, qemu-img check",
  .options = verify_options,
  .flags = CMD_CONNECTS | CMD_ALL,
  .min_args = 0, .max_args = 1,
  .exec = cmd_verify,
};

/* ---- restore ---- */

static struct {
  char *at, *to, *disks, *define;
  int latest, no_verify, instant, finish;
} ro;

static const struct poptOption restore_options[] = {
  { "repo", '\0', POPT_ARG_STRING, &opt_repo, 1,
    "backup repository (default: $VCKPT_REPO, else " VK_VAR_DIR ")", "DIR" },
  { "at", '\0', POPT_ARG_STRING, &ro.at, 2,
    "restore this backup: its id, or the checkpoint it created", "ID|CHK" },
  { "latest", '\0', POPT_ARG_NONE, &ro.latest, 3,
    "restore the newest backup (the default)", NULL },
  { "to", '\0', POPT_ARG_STRING, &ro.to, 4,
    "existing directory for the restored images", "DIR" },
  { "disk", '\0', POPT_ARG_STRING, &ro.disks, 5,
    "restore only these disks", "DISK[,DISK...]" },
  { "define", '\0', POPT_ARG_STRING, &ro.define, 6,
    "define a new domain of this name on the restored images", "NAME" },
  { "no-verify", '\0', POPT_ARG_NONE, &ro.no_verify, 7,
    "skip checking the size and checksum of every file read", NULL },
  { "instant", '\0', POPT_ARG_NONE, &ro.instant, 8,
    "with --define: run the new domain at once on overlays in --to over the backup", NULL },
  { "finish", '\0', POPT_ARG_NONE, &ro.finish, 9,
    "move the disks of instant domain DOMAIN onto standalone images in --to, running", NULL },
  FROM_OPTIONS(10),
  POPT_TABLEEND
};

/* Print the disks and a summary line of a restore (SNAP: the copy it
 * restored from, or NULL).
 */
static void
print_restored(const char *id, const char *what, const struct vk_restored *r, size_t n,
               const char *line, const struct vk_restic_snapshot *snap)
{
  if (vk_json) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "backup", vk_json_string(id));
    if (snap)
      json_object_object_add(o, "snapshot", snapshot_json(snap));
    json_object_object_add(o, "defined", vk_json_string(ro.define));
    json_object_object_add(o, "mode", json_object_new_string(what));
    json_object_object_add(o, "verified", json_object_new_boolean(!ro.no_verify &&
                                                                  !ro.instant && !ro.finish));
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
      json_object *d = json_object_new_object();
      json_object_object_add(d, "target", vk_json_string(r[i].target));
      json_object_object_add(d, "path", vk_json_string(r[i].path));
      json_object_array_add(arr, d);
    }
    json_object_object_add(o, "disks", arr);
    vk_out_json(o);
    return;
  }
  for (size_t i = 0; i < n; i++)
    vk_printf("%s: %s\n", r[i].target, r[i].path);
  if (!vk_quiet)
    vk_printf("%s\n", line);
}

/* restore --instant and restore --finish. */
static int
restore_instant(struct cmd_ctx *ctx, const char *domain)
{
  if (ro.instant && ro.finish) {
    vk_error(VK_EXIT_USAGE, "--instant and --finish cannot be used together");
    return -1;
  }
  if (ro.disks || ro.no_verify || (ro.finish && (ro.at || ro.latest || ro.define))) {
    vk_error(VK_EXIT_USAGE, ro.finish ? "--finish takes only --to (and --repo)"
                                      : "--instant cannot take --disk or --no-verify");
    return -1;
  }
  if (ro.instant && !ro.define) {
    vk_error(VK_EXIT_USAGE, "--instant needs --define NAME: the new domain to run");
    return -1;
  }
  virConnectPtr conn = ctx_connect(ctx);
  if (!conn)
    return -1;
  struct vk_restored *r = NULL;
  size_t n = 0;
  CLEANUP_FREE char *id = NULL, *line = NULL;
  if (ro.instant) {
    struct vk_restore_request req = {
      .repo_dir = vk_default_repo(opt_repo), .domain = domain, .at = ro.at, .to = ro.to,
      .define = ro.define,
    };
    if (vk_instant_start(conn, &req, &id, &r, &n) < 0)
      return -1;
    line = vk_xasprintf("Domain %s runs from backup %s of %s; move it off the repository "
                        "with: vckpt restore --finish %s --to DIR", ro.define, id, domain,
                        ro.define);
    print_restored(id, "instant", r, n, line, NULL);
  } else {
    if (vk_instant_finish(conn, vk_default_repo(opt_repo), domain, ro.to, &r, &n) < 0)
      return -1;
    line = vk_xasprintf("Domain %s runs on standalone images; it no longer needs the "
                        "repository", domain);
    print_restored(NULL, "finish", r, n, line, NULL);
  }
  vk_restored_free(r, n);
  return 0;
}
static const char *const restore_exclusive[] = { "at", "latest", NULL };
static const char *const restore_required[] = { "to", NULL };

static int
cmd_restore(struct cmd_ctx *ctx, int argc, const char **argv)
{
  const char *domain = argv[0];
  CLEANUP_STRV char **disks = NULL;
  vk_set_context("restore %s", domain);
  if (ro.define && vk_check_name("domain", ro.define) < 0)
    return -1;
  struct vk_restic_request rq;
  int from = from_request(domain, &rq);
  if (from < 0)
    return -1;
  if (from && (ro.instant || ro.finish)) {
    vk_error(VK_EXIT_USAGE, "--instant and --finish run from the repository, not --from");
    return -1;
  }
  if (ro.instant || ro.finish)
    return restore_instant(ctx, domain);
  if ((ro.disks && vk_split_list("disk", ro.disks, &disks) < 0) ||
      (ro.at && vk_check_lookup_name("checkpoint", ro.at) < 0) ||
      (ro.define && vk_check_name("domain", ro.define) < 0))
    return -1;
  virConnectPtr conn = NULL;
  if (ro.define && !(conn = ctx_connect(ctx)))
    return -1;
  struct vk_restore_request req = {
    .repo_dir = vk_default_repo(opt_repo), .domain = domain, .at = ro.at, .to = ro.to,
    .disks = disks, .define = ro.define, .no_verify = ro.no_verify,
  };
  struct vk_restored *r = NULL;
  size_t n = 0;
  CLEANUP_FREE char *id = NULL;
  struct vk_restic_snapshot snap = { 0 };
  if (from ? vk_restic_restore(conn, &rq, &req, &snap, &id, &r, &n) < 0
           : vk_restore(conn, &req, &id, &r, &n) < 0)
    return -1;
  CLEANUP_FREE char *copy = from ? vk_xasprintf(" from snapshot %s of %s", snap.id, opt_from)
                                 : vk_xstrdup("");
  CLEANUP_FREE char *line = vk_xasprintf("Restored backup %s of %s%s%s%s", id, domain, copy,
                                         ro.define ? " as new domain " : "",
                                         ro.define ? ro.define : "");
  print_restored(id, "copy", r, n, line, from ? &snap : NULL);
  vk_restored_free(r, n);
  vk_restic_snapshot_clear(&snap);
  return 0;
}

const struct cmd_entry cmd_restore_entry = {
  .name = "restore",
  .args = "DOMAIN",
  .summary = "Write standalone images of the disks as they were at a backup, verified",
  .options = restore_options,
  .exclusive = restore_exclusive,
  .required = restore_required,
  .flags = CMD_CONNECTS,
  .min_args = 1, .max_args = 1,
  .exec = cmd_restore,
};
