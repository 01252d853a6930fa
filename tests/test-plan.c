/* Unit test of the backup plan (lib/plan.c), without libvirt: a table of
 * facts (running or shut off, mode, repository, --auto's trial preflight,
 * disks) and the plan each must give (job kind, level, since, parent,
 * reason, refusal, disks copied whole, disks the new checkpoint tracks).
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "util.h"

static int errors;

#define CHECK(cond, ...)                                                \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf(stderr, "FAIL: %s: %s:%d: ", c->name, __func__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                                     \
      fputc('\n', stderr);                                              \
      errors++;                                                         \
    }                                                                   \
  } while (0)

/* A repository: a full backup F1 (vda, vdb) ending at c1, an incremental
 * I2 on it (vda, vdb) ending at c2.
 */
static struct vk_backup_disk f1_disks[] = {
  { .target = "vda", .file = "C1/full-1.vda.qcow2" },
  { .target = "vdb", .file = "C1/full-1.vdb.qcow2" },
};
static struct vk_backup_disk i2_disks[] = {
  { .target = "vda", .file = "C1/inc-2.vda.qcow2", .backing = "C1/full-1.vda.qcow2" },
  { .target = "vdb", .file = "C1/inc-2.vdb.qcow2", .backing = "C1/full-1.vdb.qcow2" },
};
static struct vk_backup F1 = { .id = "full-1", .chain = "C1", .level = VK_LEVEL_FULL,
                               .checkpoint = "c1", .nr_disks = 2, .disks = f1_disks };
static struct vk_backup I2 = { .id = "inc-2", .chain = "C1", .level = VK_LEVEL_INCREMENTAL,
                               .checkpoint = "c2", .since = "c1", .parent = "full-1",
                               .nr_disks = 2, .disks = i2_disks };
/* A full backup prune made of a later point (its checkpoint c5 is gone):
 * differentials are taken from its base c4, the expired full's checkpoint.
 */
static struct vk_backup P5 = { .id = "inc-5", .chain = "C1", .level = VK_LEVEL_FULL,
                               .checkpoint = "c5", .nr_disks = 2, .disks = f1_disks,
                               .base = { .checkpoint = "c4", .record = "C1/full-4.checkpoint.xml",
                                         .identity = "vckpt backup checkpoint, identity x" } };

/* F1 recorded with the clock a year ahead. */
static struct vk_backup F1_AHEAD = { .id = "full-1", .chain = "C1", .level = VK_LEVEL_FULL,
                                     .checkpoint = "c1", .nr_disks = 2, .disks = f1_disks,
                                     .start = 365 * 86400 };

enum trial { NO_TRIAL, TRIAL_OK, TRIAL_REFUSED, TRIAL_DAMAGED };

#define MAXD 4
struct row {
  const char *name;
  /* facts */
  bool shut_off;                 /* the domain is shut off (else it runs) */
  bool remote;                   /* on a remote hypervisor */
  int pull_opt;                  /* 0: neither --pull nor --push, 1: --pull, 2: --push */
  bool compress;
  bool want_pull;                /* the pull job (a running domain) */
  enum vk_mode mode;
  const char *since;
  const struct vk_backup *latest, *since_backup, *chain_full;
  enum trial trial;
  const char *preflight_error;   /* the level's own preflight finds this error code */
  struct vk_plan_disk_facts disks[MAXD];
  int full_every_backups, full_every_days;   /* the policy's level schedule */
  size_t chain_backups;
  long long now;
  /* expected */
  enum vk_level level;
  const char *want_since;
  const struct vk_backup *want_parent;
  const char *reason;            /* substring of the --auto reason, or NULL for none */
  bool refused;
  const char *refused_code;      /* the first error's code when refused */
  bool preflight_done;
  const char *whole;             /* disks copied whole, "vda,vdb", or "" */
  const char *bitmaps;           /* disks the new checkpoint tracks */
};

#define D(t) { .target = t, .tracked = 1, .size_then = 1024, .size_now = 1024 }
#define RAW(t) { .target = t, .raw = true, .tracked = 0, .size_then = -1, .size_now = -1 }

static const struct row rows[] = {
  { .name = "full", .mode = VK_MODE_FULL, .latest = &I2, .chain_full = &F1,
    .disks = { D("vda"), D("vdb") },
    .level = VK_LEVEL_FULL, .whole = "", .bitmaps = "vda,vdb" },
  { .name = "full of a shut-off domain -> the offline job", .shut_off = true,
    .mode = VK_MODE_FULL, .latest = &I2, .chain_full = &F1, .disks = { D("vda"), D("vdb") },
    .level = VK_LEVEL_FULL, .whole = "", .bitmaps = "vda,vdb" },
  { .name = "--pull -> the pull job", .pull_opt = 1, .want_pull = true,
    .mode = VK_MODE_FULL, .disks = { D("vda") },
    .level = VK_LEVEL_FULL, .whole = "", .bitmaps = "vda" },
  { .name = "remote domain -> the pull job by default", .remote = true, .want_pull = true,
    .mode = VK_MODE_INCREMENTAL, .since = "c2", .since_backup = &I2, .latest = &I2,
    .chain_full = &F1, .disks = { D("vda"), D("vdb") }, .level = VK_LEVEL_INCREMENTAL,
    .want_since = "c2", .want_parent = &I2, .whole = "", .bitmaps = "vda,vdb" },
  { .name = "remote domain, --push -> the push job (a shared repository)", .remote = true,
    .pull_opt = 2, .mode = VK_MODE_FULL, .disks = { D("vda") },
    .level = VK_LEVEL_FULL, .whole = "", .bitmaps = "vda" },
  { .name = "compressed files -> the pull job by default", .compress = true, .want_pull = true,
    .mode = VK_MODE_FULL, .disks = { D("vda") },
    .level = VK_LEVEL_FULL, .whole = "", .bitmaps = "vda" },
  { .name = "compressed files of a shut-off domain -> the offline job", .compress = true,
    .shut_off = true, .mode = VK_MODE_FULL, .disks = { D("vda") },
    .level = VK_LEVEL_FULL, .whole = "", .bitmaps = "vda" },
  { .name = "remote shut-off domain -> refused", .remote = true, .shut_off = true,
    .mode = VK_MODE_FULL, .disks = { D("vda") }, .level = VK_LEVEL_FULL,
    .refused = true, .refused_code = "remote-shut-off", .whole = "", .bitmaps = "vda" },
  { .name = "auto with no backup -> full with reason", .mode = VK_MODE_AUTO,
    .disks = { D("vda") },
    .level = VK_LEVEL_FULL, .reason = "the repository has no backup of this domain yet",
    .whole = "", .bitmaps = "vda" },
  { .name = "auto with a passing trial -> incremental, preflight not run again",
    .mode = VK_MODE_AUTO, .latest = &I2, .chain_full = &F1, .trial = TRIAL_OK,
    .disks = { D("vda"), D("vdb") },
    .level = VK_LEVEL_INCREMENTAL, .want_since = "c2", .want_parent = &I2,
    .preflight_done = true, .whole = "", .bitmaps = "vda,vdb" },
  { .name = "auto with a refused trial -> full, the first error as reason",
    .mode = VK_MODE_AUTO, .latest = &I2, .chain_full = &F1, .trial = TRIAL_REFUSED,
    .disks = { D("vda"), D("vdb") },
    .level = VK_LEVEL_FULL, .reason = "bitmap-inconsistent vda: the bitmap is broken",
    .whole = "", .bitmaps = "vda,vdb" },
  { .name = "auto, schedule every 3 backups, chain of 2 -> incremental", .mode = VK_MODE_AUTO,
    .latest = &I2, .chain_full = &F1, .trial = TRIAL_OK, .full_every_backups = 3,
    .chain_backups = 2, .disks = { D("vda") }, .level = VK_LEVEL_INCREMENTAL,
    .want_since = "c2", .want_parent = &I2, .preflight_done = true, .whole = "",
    .bitmaps = "vda" },
  { .name = "auto, schedule every 2 backups, chain of 2 -> full with reason",
    .mode = VK_MODE_AUTO, .latest = &I2, .chain_full = &F1, .trial = TRIAL_OK,
    .full_every_backups = 2, .chain_backups = 2, .disks = { D("vda") },
    .level = VK_LEVEL_FULL, .reason = "a new full chain every 2 backups, and the chain has 2",
    .whole = "", .bitmaps = "vda" },
  { .name = "auto, schedule every 7 days, full 8 days old -> full with reason",
    .mode = VK_MODE_AUTO, .latest = &I2, .chain_full = &F1, .trial = TRIAL_OK,
    .full_every_days = 7, .chain_backups = 2, .now = 8 * 86400, .disks = { D("vda") },
    .level = VK_LEVEL_FULL, .reason = "every 7 days, and the chain's full backup is 8 days old",
    .whole = "", .bitmaps = "vda" },
  { .name = "auto, schedule every 7 days, full 6 days old -> incremental",
    .mode = VK_MODE_AUTO, .latest = &I2, .chain_full = &F1, .trial = TRIAL_OK,
    .full_every_days = 7, .chain_backups = 2, .now = 6 * 86400, .disks = { D("vda") },
    .level = VK_LEVEL_INCREMENTAL, .want_since = "c2", .want_parent = &I2,
    .preflight_done = true, .whole = "", .bitmaps = "vda" },
  /* A full backup recorded with the clock ahead would never be 7 days old. */
  { .name = "auto, schedule every 7 days, full in the future -> full with reason",
    .mode = VK_MODE_AUTO, .latest = &I2, .chain_full = &F1_AHEAD, .trial = TRIAL_OK,
    .full_every_days = 7, .chain_backups = 2, .now = 6 * 86400, .disks = { D("vda") },
    .level = VK_LEVEL_FULL, .reason = "full backup's recorded time lies in the future",
    .whole = "", .bitmaps = "vda" },
  { .name = "auto with a damaged parent -> full", .mode = VK_MODE_AUTO, .latest = &I2,
    .chain_full = &F1, .trial = TRIAL_DAMAGED, .disks = { D("vda") },
    .level = VK_LEVEL_FULL, .reason = "previous-backup-damaged vda:", .whole = "",
    .bitmaps = "vda" },
  { .name = "incremental", .mode = VK_MODE_INCREMENTAL, .since = "c2", .latest = &I2,
    .since_backup = &I2, .chain_full = &F1, .disks = { D("vda"), D("vdb") },
    .level = VK_LEVEL_INCREMENTAL, .want_since = "c2", .want_parent = &I2, .whole = "",
    .bitmaps = "vda,vdb" },
  { .name = "incremental from an older backup", .mode = VK_MODE_INCREMENTAL, .since = "c1",
    .latest = &I2, .since_backup = &F1, .chain_full = &F1, .disks = { D("vda") },
    .level = VK_LEVEL_INCREMENTAL, .want_since = "c1", .want_parent = &F1, .whole = "",
    .bitmaps = "vda" },
  { .name = "incremental with no backup at the checkpoint -> refused",
    .mode = VK_MODE_INCREMENTAL, .since = "c9", .latest = &I2, .chain_full = &F1,
    .disks = { D("vda") },
    .level = VK_LEVEL_INCREMENTAL, .want_since = "c9", .refused = true,
    .refused_code = "previous-backup-missing", .whole = "", .bitmaps = "vda" },
  { .name = "incremental with a damaged parent -> refused", .mode = VK_MODE_INCREMENTAL,
    .since = "c2", .latest = &I2, .since_backup = &I2, .chain_full = &F1,
    .preflight_error = "previous-backup-damaged", .disks = { D("vda") },
    .level = VK_LEVEL_INCREMENTAL, .want_since = "c2", .want_parent = &I2, .refused = true,
    .refused_code = "previous-backup-damaged", .whole = "", .bitmaps = "vda" },
  { .name = "differential: the parent is the chain's full", .mode = VK_MODE_DIFFERENTIAL,
    .latest = &I2, .chain_full = &F1, .disks = { D("vda"), D("vdb") },
    .level = VK_LEVEL_DIFFERENTIAL, .want_since = "c1", .want_parent = &F1, .whole = "",
    .bitmaps = "vda,vdb" },
  { .name = "differential of a promoted full: from its base", .mode = VK_MODE_DIFFERENTIAL,
    .latest = &P5, .chain_full = &P5, .disks = { D("vda"), D("vdb") },
    .level = VK_LEVEL_DIFFERENTIAL, .want_since = "c4", .want_parent = &P5, .whole = "",
    .bitmaps = "vda,vdb" },
  { .name = "differential with no backup -> refused", .mode = VK_MODE_DIFFERENTIAL,
    .disks = { D("vda") },
    .level = VK_LEVEL_DIFFERENTIAL, .refused = true, .refused_code = "previous-backup-missing",
    .whole = "", .bitmaps = "vda" },
  { .name = "raw disk: copied whole, no bitmap", .mode = VK_MODE_INCREMENTAL, .since = "c2",
    .latest = &I2, .since_backup = &I2, .disks = { D("vda"), RAW("vdb") },
    .level = VK_LEVEL_INCREMENTAL, .want_since = "c2", .want_parent = &I2, .whole = "vdb",
    .bitmaps = "vda" },
  { .name = "raw disk in a full backup: no bitmap, not 'whole'", .mode = VK_MODE_FULL,
    .disks = { D("vda"), RAW("vdb") },
    .level = VK_LEVEL_FULL, .whole = "", .bitmaps = "vda" },
  { .name = "disk added since the parent: whole", .mode = VK_MODE_INCREMENTAL, .since = "c2",
    .latest = &I2, .since_backup = &I2, .disks = { D("vda"), D("vdc") },
    .level = VK_LEVEL_INCREMENTAL, .want_since = "c2", .want_parent = &I2, .whole = "vdc",
    .bitmaps = "vda,vdc" },
  { .name = "disk not tracked by the checkpoint: whole", .mode = VK_MODE_INCREMENTAL,
    .since = "c2", .latest = &I2, .since_backup = &I2,
    .disks = { D("vda"), { .target = "vdb", .tracked = 0, .size_then = -1, .size_now = -1 } },
    .level = VK_LEVEL_INCREMENTAL, .want_since = "c2", .want_parent = &I2, .whole = "vdb",
    .bitmaps = "vda,vdb" },
  { .name = "checkpoint unreadable: tracking unknown, not whole", .mode = VK_MODE_INCREMENTAL,
    .since = "c2", .latest = &I2, .since_backup = &I2,
    .disks = { { .target = "vda", .tracked = -1, .size_then = -1, .size_now = -1 } },
    .level = VK_LEVEL_INCREMENTAL, .want_since = "c2", .want_parent = &I2, .whole = "",
    .bitmaps = "vda" },
  { .name = "disk resized since the checkpoint: whole", .mode = VK_MODE_INCREMENTAL,
    .since = "c2", .latest = &I2, .since_backup = &I2,
    .disks = { D("vda"), { .target = "vdb", .tracked = 1, .size_then = 1024, .size_now = 2048 } },
    .level = VK_LEVEL_INCREMENTAL, .want_since = "c2", .want_parent = &I2, .whole = "vdb",
    .bitmaps = "vda,vdb" },
  { .name = "size unknown: not whole", .mode = VK_MODE_INCREMENTAL, .since = "c2",
    .latest = &I2, .since_backup = &I2,
    .disks = { { .target = "vda", .tracked = 1, .size_then = 1024, .size_now = -1 } },
    .level = VK_LEVEL_INCREMENTAL, .want_since = "c2", .want_parent = &I2, .whole = "",
    .bitmaps = "vda" },
};

static char *
joined(char **v)
{
  size_t len = 1;
  for (size_t i = 0; v && v[i]; i++)
    len += strlen(v[i]) + 1;
  char *s = vk_xcalloc(len, 1);
  for (size_t i = 0; v && v[i]; i++) {
    if (i)
      strcat(s, ",");
    strcat(s, v[i]);
  }
  return s;
}

static void
make_trial(enum trial t, struct vk_report *rep)
{
  memset(rep, 0, sizeof *rep);
  rep->running = true;
  vk_report_add(rep, "disk-raw", VK_SEV_WARNING, "vdc", NULL, NULL, NULL,
                vk_xstrdup("a warning first"), NULL);
  if (t == TRIAL_REFUSED) {
    vk_report_add(rep, "bitmap-inconsistent", VK_SEV_ERROR, "vda", NULL, NULL, "c2",
                  vk_xstrdup("the bitmap is broken"), vk_xstrdup("take a full backup"));
    vk_report_add(rep, "job-running", VK_SEV_ERROR, NULL, NULL, NULL, NULL,
                  vk_xstrdup("a second error"), NULL);
  } else if (t == TRIAL_DAMAGED)
    vk_report_add(rep, "previous-backup-damaged", VK_SEV_ERROR, "vda", NULL, NULL, "c2",
                  vk_xstrdup("the chain of the previous backup (inc-2) is damaged"), NULL);
}

static void
run_row(const struct row *c)
{
  struct vk_report trial;
  struct vk_plan_facts f = {
    .running = !c->shut_off, .remote = c->remote,
    .pull = c->pull_opt == 1 ? 1 : c->pull_opt == 2 ? 0 : -1, .compress = c->compress,
    .mode = c->mode, .since = c->since, .latest = c->latest, .since_backup = c->since_backup,
    .chain_full = c->chain_full, .full_every_backups = c->full_every_backups,
    .full_every_days = c->full_every_days, .chain_backups = c->chain_backups, .now = c->now,
  };
  if (c->trial != NO_TRIAL) {
    make_trial(c->trial, &trial);
    f.trial = &trial;
  }
  struct vk_plan p = { 0 };
  vk_plan_level(&f, &p);
  if (c->trial != NO_TRIAL)
    vk_report_clear(&trial);
  /* The flow runs the level's own preflight unless the trial was it. */
  if (!p.preflight_done && p.report.errors == 0 && c->preflight_error) {
    struct vk_report rep = { 0 };
    vk_report_add(&rep, c->preflight_error, VK_SEV_ERROR, "vda", NULL, NULL, p.since,
                  vk_xstrdup("found by the preflight"), NULL);
    vk_plan_take_findings(&p, &rep);
  }
  CHECK(p.job == (c->shut_off ? VK_JOB_OFFLINE : c->want_pull ? VK_JOB_PULL : VK_JOB_PUSH),
        "job kind %d", p.job);
  CHECK(p.level == c->level, "level %d, want %d", p.level, c->level);
  CHECK((!p.since && !c->want_since) || (p.since && c->want_since &&
                                         strcmp(p.since, c->want_since) == 0),
        "since %s, want %s", p.since ? p.since : "(none)",
        c->want_since ? c->want_since : "(none)");
  CHECK(p.parent == c->want_parent, "parent %s, want %s", p.parent ? p.parent->id : "(none)",
        c->want_parent ? c->want_parent->id : "(none)");
  CHECK((!p.auto_reason && !c->reason) ||
        (p.auto_reason && c->reason && strstr(p.auto_reason, c->reason)),
        "reason '%s', want '%s'", p.auto_reason ? p.auto_reason : "(none)",
        c->reason ? c->reason : "(none)");
  CHECK(p.preflight_done == c->preflight_done, "preflight_done %d", p.preflight_done);
  CHECK(vk_plan_refused(&p) == c->refused, "refused %d, want %d", vk_plan_refused(&p),
        c->refused);
  if (c->refused) {
    CLEANUP_FREE char *first = vk_report_first_error(&p.report);
    CHECK(strncmp(first, c->refused_code, strlen(c->refused_code)) == 0, "first error %s",
          first);
  }
  if (c->trial == TRIAL_OK && c->level == VK_LEVEL_FULL)
    CHECK(p.report.n == 0 && !p.preflight_done,
          "a trial the schedule overrides is not the full backup's preflight");
  else if (c->trial == TRIAL_OK)
    CHECK(p.report.n == 1 && strcmp(p.report.f[0].code, "disk-raw") == 0 &&
          p.report.running, "the trial's findings are the plan's");
  if (c->trial == TRIAL_REFUSED || c->trial == TRIAL_DAMAGED)
    CHECK(p.report.n == 0, "a refused trial's findings are not the full backup's");
  if (!vk_plan_refused(&p)) {
    size_t n = 0;
    while (n < MAXD && c->disks[n].target)
      n++;
    vk_plan_disks(&p, c->disks, n);
    CLEANUP_FREE char **w = vk_plan_whole(&p);
    CLEANUP_FREE char **b = vk_plan_bitmaps(&p);
    CLEANUP_FREE char **t = vk_plan_targets(&p);
    CLEANUP_FREE char *ws = joined(w);
    CLEANUP_FREE char *bs = joined(b);
    CLEANUP_FREE char *rs = joined(p.report.whole);
    CHECK(strcmp(ws, c->whole) == 0, "whole '%s', want '%s'", ws, c->whole);
    CHECK(strcmp(rs, c->whole) == 0, "report whole '%s', want '%s'", rs, c->whole);
    CHECK(strcmp(bs, c->bitmaps) == 0, "bitmaps '%s', want '%s'", bs, c->bitmaps);
    CHECK(vk_strv_len(t) == n, "%zu targets", vk_strv_len(t));
  }
  vk_plan_clear(&p);
}

int
main(void)
{
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    run_row(&rows[i]);
  printf("%zu cases, %d failures\n", sizeof rows / sizeof rows[0], errors);
  return errors ? 1 : 0;
}
