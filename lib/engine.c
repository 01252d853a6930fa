/* vckpt - the backup flow: choose the level, preflight, journal, targets,
 * run the job, then commit, or roll everything back.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>

#include "backup.h"
#include "checkpoint.h"
#include "ckpt.h"
#include "engine.h"
#include "job.h"
#include "meta.h"
#include "util.h"
#include "virt.h"
#include "xml.h"

#define VK_DEFAULT_REPO "/var/lib/vckpt"

const char *
vk_default_repo(const char *given)
{
  if (given)
    return given;
  const char *env = getenv("VCKPT_REPO");
  return env && *env ? env : VK_DEFAULT_REPO;
}

void
vk_backup_outcome_clear(struct vk_backup_outcome *o)
{
  free(o->id);
  free(o->chain);
  free(o->checkpoint);
  free(o->since);
  free(o->auto_reason);
  free(o->backup_xml);
  free(o->checkpoint_xml);
  vk_report_clear(&o->report);
  memset(o, 0, sizeof *o);
}

/* Delete the checkpoint a failed backup created (libvirt leaves it): the
 * one delete of checkpoint.c, its bitmaps or else its metadata.  0 once
 * libvirt confirmed it is gone; -1 with *WHY set when libvirt could not be
 * asked (libvirtd unreachable) or refused.
 */
static int
drop_checkpoint(virDomainPtr dom, const char *name, char **why)
{
  return vk_checkpoint_delete(dom, name, VK_CKPT_DELETE_OR_METADATA | VK_CKPT_DELETE_MISSING_OK,
                              why);
}

/* Finish what an earlier, killed run left: its job, checkpoint and files.
 * The journal goes only once the checkpoint is confirmed gone.
 */
static int
recover(virDomainPtr dom, struct vk_repo *repo, const struct vk_flow_cb *cb)
{
  const struct vk_backup *p = vk_repo_pending(repo);
  if (!p)
    return 0;
  CLEANUP_FREE char *ck = p->checkpoint ? vk_xstrdup(p->checkpoint) : NULL;
  /* A job a killed run left is stopped before its files go; it is ours
   * if it writes into one of the journal's files.
   */
  char **files = vk_xcalloc(p->nr_disks + 1, sizeof *files);
  for (size_t i = 0; i < p->nr_disks; i++)
    files[i] = vk_repo_path(repo, p->disks[i].file);
  struct vk_job_spec spec = { .conn = virDomainGetConnect(dom), .dom = dom };
  vk_job_push_ops.reclaim(&spec, files, cb);
  vk_strv_free(files);
  CLEANUP_FREE char *why = NULL;
  if (ck && !vk_repo_find_by_checkpoint(repo, ck) && drop_checkpoint(dom, ck, &why) < 0) {
    vk_error(VK_EXIT_FAILURE, "cannot finish the rollback of interrupted backup %s: its "
             "checkpoint '%s' could not be deleted (%s); its journal is kept for the next run",
             p->id, ck, why);
    return -1;
  }
  vk_flow_message(cb, VK_MSG_WARNING,
                  "cleaned up after an interrupted backup%s%s%s: partial files removed",
          ck ? " (checkpoint '" : "", ck ? ck : "", ck ? "' deleted)" : "");
  return vk_repo_recover(repo);
}

/* A checkpoint name for this backup that libvirt does not have yet:
 * "vckpt-TIME-RANDOM", so that two runs in the same second (on two hosts
 * sharing images, or after a bitmap was left behind) never pick the same.
 */
static char *
new_checkpoint_name(virDomainPtr dom)
{
  char stamp[32];
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  for (;;) {
    unsigned char r[3] = { 0 };
    if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
      struct timespec ts;   /* no entropy yet: the sub-second time */
      clock_gettime(CLOCK_REALTIME, &ts);
      long v = ts.tv_nsec / 1000 ^ (long)getpid();
      r[0] = v >> 16, r[1] = v >> 8, r[2] = v;
    }
    char *name = vk_xasprintf("vckpt-%s-%02x%02x%02x", stamp, r[0], r[1], r[2]);
    virDomainCheckpointPtr c = virDomainCheckpointLookupByName(dom, name, 0);
    if (!c)
      return name;
    virDomainCheckpointFree(c);
    free(name);
  }
}

/* ---- one backup per domain per host ---- */

#define VK_LOCK_DIR "/run/vckpt"

/* The directory of the host-wide locks: $VCKPT_LOCK_DIR (for tests), else
 * /run/vckpt.
 */
static const char *
lock_dir(void)
{
  const char *env = getenv("VCKPT_LOCK_DIR");
  return env && *env ? env : VK_LOCK_DIR;
}

/* Read "pid=N\nstart=T\nrepo=R\n" from lock file FD into a description;
 * NULL while the holder has not written it yet.
 */
static char *
lock_holder(int fd)
{
  char buf[4200];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0)
    return NULL;
  buf[n] = '\0';
  long pid = 0;
  long long start = 0;
  const char *repo = NULL;
  for (char *p = buf, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
    *nl = '\0';
    if (strncmp(p, "pid=", 4) == 0)
      pid = strtol(p + 4, NULL, 10);
    else if (strncmp(p, "start=", 6) == 0)
      start = strtoll(p + 6, NULL, 10);
    else if (strncmp(p, "repo=", 5) == 0)
      repo = p + 5;
  }
  if (pid <= 0 || !repo)
    return NULL;
  char when[64];
  vk_format_time(start, when, sizeof when);
  CLEANUP_FREE char *r = vk_printable(repo);
  return vk_xasprintf("pid %ld (a backup into %s, since %s)", pid, r, when);
}

/* Take the host-wide lock of the domain (keyed by its UUID): one backup of
 * a domain at a time on this host, whatever the repository.  Returns the
 * locked file descriptor, or -1 after reporting (busy: VK_EXIT_BUSY naming
 * the holder).
 */
static int
host_lock(const char *domname, const char *uuid, const char *repo_dir)
{
  const char *dir = lock_dir();
  if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
    vk_error(VK_EXIT_FAILURE, "cannot create %s: %s", dir, strerror(errno));
    return -1;
  }
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (dfd < 0 || fstat(dfd, &st) < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", dir, strerror(errno));
    if (dfd >= 0)
      close(dfd);
    return -1;
  }
  if (st.st_uid != geteuid() || (st.st_mode & 022)) {
    vk_error(VK_EXIT_FAILURE, "%s: not a private directory (owner %ld, mode %04o): refusing "
             "to keep locks there", dir, (long)st.st_uid, (unsigned)(st.st_mode & 07777));
    close(dfd);
    return -1;
  }
  CLEANUP_FREE char *file = vk_xasprintf("%s.lock", uuid);
  CLEANUP_FREE char *path = vk_xasprintf("%s/%s", dir, file);
  int fd = openat(dfd, file, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
  close(dfd);
  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", path, fd < 0 ? strerror(errno) : "not a regular file");
    if (fd >= 0)
      close(fd);
    return -1;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    if (errno != EWOULDBLOCK) {
      vk_error(VK_EXIT_FAILURE, "%s: cannot lock: %s", path, strerror(errno));
      close(fd);
      return -1;
    }
    /* The holder writes its name just after taking the lock. */
    char *who = NULL;
    for (int i = 0; i < 50 && !(who = lock_holder(fd)); i++)
      usleep(2000);
    vk_error(VK_EXIT_BUSY, "domain '%s' is locked by %s: one backup of a domain at a time "
             "(lock %s)", domname, who ? who : "another process", path);
    free(who);
    close(fd);
    return -1;
  }
  CLEANUP_FREE char *abs = realpath(repo_dir, NULL);
  CLEANUP_FREE char *text = vk_xasprintf("pid=%ld\nstart=%lld\nrepo=%.4000s\n", (long)getpid(),
                                         (long long)time(NULL), abs ? abs : repo_dir);
  size_t len = strlen(text);
  if (ftruncate(fd, 0) < 0 || pwrite(fd, text, len, 0) != (ssize_t)len)
    vk_warn("%s: cannot record the lock holder: %s", path, strerror(errno));
  return fd;
}

/* Release the host-wide lock: empty the file while still holding it. */
static void
host_unlock(int fd)
{
  if (fd < 0)
    return;
  if (ftruncate(fd, 0) < 0)
    vk_debug("cannot empty the host lock: %s", strerror(errno));
  close(fd);
}

/* The disks to back up: --disk, else every writable disk, less --exclude. */
static int
choose_disks(const struct vk_disks *all, const char *domname,
             const struct vk_backup_request *req, char ***out)
{
  if (vk_disks_check(all, domname, req->disks) < 0 ||
      vk_disks_check(all, domname, req->exclude) < 0)
    return -1;
  char **v = vk_xcalloc(all->n + 1, sizeof *v);
  size_t n = 0;
  for (size_t i = 0; i < all->n; i++) {
    const struct vk_disk *d = &all->disk[i];
    if (strcmp(d->device, "disk") != 0 || d->readonly)
      continue;
    if (req->disks && !vk_strv_contains(req->disks, d->target))
      continue;
    if (req->exclude && vk_strv_contains(req->exclude, d->target))
      continue;
    v[n++] = vk_xstrdup(d->target);
  }
  if (n == 0) {
    vk_strv_free(v);
    vk_error(VK_EXIT_USAGE, "no disk left to back up");
    return -1;
  }
  *out = v;
  return 0;
}

/* What identifies a checkpoint: name, creation time, description (which
 * holds the identity vckpt gives the checkpoints its backups create).
 */
struct identity {
  char *name, *description;
  long long created;
};

static void
identity_clear(struct identity *id)
{
  free(id->name);
  free(id->description);
  memset(id, 0, sizeof *id);
}

/* Parse the identity out of checkpoint XML; -1 if it is not one. */
static int
identity_parse(const char *xml, struct identity *id)
{
  memset(id, 0, sizeof *id);
  CLEANUP_XMLDOC xmlDocPtr doc = xmlReadMemory(xml, strlen(xml), "checkpoint", NULL,
                                               XML_PARSE_NONET | XML_PARSE_NOERROR |
                                               XML_PARSE_NOWARNING);
  if (!doc || !xmlDocGetRootElement(doc) ||
      xmlStrcmp(xmlDocGetRootElement(doc)->name, (const xmlChar *)"domaincheckpoint") != 0)
    return -1;
  CLEANUP_XPATHCTX xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  id->name = vk_xpath_string(ctx, NULL, "/domaincheckpoint/name");
  id->description = vk_xpath_string(ctx, NULL, "/domaincheckpoint/description");
  CLEANUP_FREE char *ct = vk_xpath_string(ctx, NULL, "/domaincheckpoint/creationTime");
  char *end = NULL;
  id->created = ct ? strtoll(ct, &end, 10) : -1;
  if (!id->name || !ct || !end || *end || id->created < 0) {
    identity_clear(id);
    return -1;
  }
  return 0;
}

/* Read a small file of the repository, never blocking, following no
 * symlink and taking regular files only; NULL with *WHY set on failure.
 */
static char *
read_record(const char *path, char **why)
{
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) {
    *why = vk_xstrdup(strerror(errno));
    if (fd >= 0)
      close(fd);
    return NULL;
  }
  if (!S_ISREG(st.st_mode) || st.st_size > (4 << 20)) {
    *why = vk_xstrdup(S_ISREG(st.st_mode) ? "larger than 4 MiB" : "not a regular file");
    close(fd);
    return NULL;
  }
  char *buf = vk_xmalloc(st.st_size + 1);
  size_t len = 0;
  while (len < (size_t)st.st_size) {
    ssize_t n = read(fd, buf + len, st.st_size - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      *why = vk_xstrdup(n < 0 ? strerror(errno) : "shorter than its size");
      free(buf);
      close(fd);
      return NULL;
    }
    len += n;
  }
  close(fd);
  buf[len] = '\0';
  if (strlen(buf) != len) {
    *why = vk_xstrdup("contains NUL bytes");
    free(buf);
    return NULL;
  }
  return buf;
}

/* Whether libvirt's checkpoint SINCE is the one backup PARENT ended at:
 * the same name, creation time and identity as recorded in the repository
 * (ID.checkpoint.xml).  A checkpoint deleted and re-created under the same
 * name tracks changes only from its re-creation: stacking on PARENT would
 * lose what was written in between.
 */
static void
check_identity(virDomainPtr dom, struct vk_repo *repo, const struct vk_backup *parent,
               const char *since, const char *q, struct vk_report *rep)
{
  virDomainCheckpointPtr chk = virDomainCheckpointLookupByName(dom, since, 0);
  if (!chk)
    return;   /* the validator (or libvirt) reports a missing checkpoint */
  CLEANUP_FREE char *live_xml =
    virDomainCheckpointGetXMLDesc(chk, VIR_DOMAIN_CHECKPOINT_XML_NO_DOMAIN);
  virDomainCheckpointFree(chk);
  CLEANUP_FREE char *path = vk_repo_path(repo, parent->checkpoint_xml);
  CLEANUP_FREE char *why = NULL;
  CLEANUP_FREE char *rec_xml = read_record(path, &why);
  CLEANUP_FREE char *fix = vk_xasprintf("take a full backup to start a new chain "
                                        "(vckpt backup %s --full)", q);
  struct identity live = { 0 }, rec = { 0 };
  if (!rec_xml || identity_parse(rec_xml, &rec) < 0) {
    vk_report_add(rep, "checkpoint-unverified", VK_SEV_ERROR, NULL, path, NULL, since,
                  vk_xasprintf("the record of checkpoint '%s' of backup %s cannot be read (%s): "
                               "whether libvirt's checkpoint is the one that backup ended at "
                               "is unknown", since, parent->id, why ? why : "not checkpoint XML"),
                  vk_xstrdup(fix));
    return;
  }
  if (!live_xml || identity_parse(live_xml, &live) < 0) {
    vk_report_add(rep, "checkpoint-unverified", VK_SEV_ERROR, NULL, NULL, NULL, since,
                  vk_xasprintf("cannot read checkpoint '%s' from libvirt: %s", since,
                               live_xml ? "not checkpoint XML" : vk_virt_last_message()),
                  vk_xstrdup(fix));
    identity_clear(&rec);
    return;
  }
  /* Records from before identities existed have no description: then the
   * name and creation time decide.
   */
  bool same = strcmp(live.name, rec.name) == 0 && live.created == rec.created &&
              ((!live.description && !rec.description) ||
               (live.description && rec.description &&
                strcmp(live.description, rec.description) == 0));
  if (!same) {
    char a[64], b[64];
    vk_format_time(rec.created, a, sizeof a);
    vk_format_time(live.created, b, sizeof b);
    vk_report_add(rep, "checkpoint-replaced", VK_SEV_ERROR, NULL, NULL, NULL, since,
                  vk_xasprintf("checkpoint '%s' is not the one backup %s ended at (that one was "
                               "created %s; libvirt's was created %s%s): it was deleted and "
                               "re-created, and what was written in between is not tracked",
                               since, parent->id, a, b,
                               live.created == rec.created ? ", with another identity" : ""),
                  vk_xstrdup(fix));
  }
  identity_clear(&live);
  identity_clear(&rec);
}

/* Checks of the repository side: the previous backup's files, space. */
static void
check_repo(virDomainPtr dom, struct vk_repo *repo, const char *repo_dir,
           const struct vk_backup *parent, const char *since, char *const *targets,
           bool estimate, struct vk_report *rep)
{
  CLEANUP_FREE char *q = vk_shell_quote(virDomainGetName(dom));
  for (size_t i = 0; parent && targets[i]; i++) {
    const struct vk_backup_disk *pd = NULL;
    for (size_t j = 0; j < parent->nr_disks && !pd; j++)
      if (strcmp(parent->disks[j].target, targets[i]) == 0)
        pd = &parent->disks[j];
    if (!pd) {
      vk_report_add(rep, "disk-not-in-backup", VK_SEV_WARNING, targets[i], NULL, NULL, since,
                    vk_xasprintf("the previous backup (%s) does not have this disk: it is "
                                 "copied whole", parent->id),
                    vk_xasprintf("nothing, or leave it out (--exclude %s)", targets[i]));
      vk_report_whole(rep, targets[i]);
      continue;
    }
    if (rep->whole && vk_strv_contains(rep->whole, targets[i]))
      continue;   /* copied whole: it does not stack on the parent's file */
    /* Never stack on a damaged or missing file: every file of the chain
     * this disk would stack on is present, regular, of the recorded size,
     * and a qcow2 image with the recorded backing file.
     */
    CLEANUP_FREE char *why = NULL;
    int rc = repo ? vk_repo_check_disk_chain(repo, parent, targets[i], true, &why) : 0;
    if (rc != 0)
      vk_report_add(rep, "previous-backup-damaged", VK_SEV_ERROR, targets[i], NULL, NULL, since,
                    vk_xasprintf("the chain of the previous backup (%s) is damaged: %s",
                                 parent->id, why ? why : "it could not be checked"),
                    vk_xasprintf("take a full backup to start a new chain (vckpt backup %s --full); "
                                 "'vckpt verify' shows what is wrong", q));
  }

  if (parent && since)
    check_identity(dom, repo, parent, since, q, rep);

  /* Without a repository yet (a dry run), the directory it would go in. */
  CLEANUP_FREE char *dir = vk_xstrdup(repo ? vk_repo_dir(repo) : repo_dir);
  while (!repo && access(dir, F_OK) != 0) {
    char *slash = strrchr(dir, '/');
    if (!slash) {
      free(dir);
      dir = vk_xstrdup(".");
      break;
    } else if (slash == dir)
      break;
    else
      *slash = '\0';
  }
  if (access(dir, W_OK) != 0)
    vk_report_add(rep, "target-not-writable", VK_SEV_ERROR, NULL, dir, NULL, NULL,
                  vk_xasprintf("the repository directory is not writable: %s", strerror(errno)),
                  vk_xstrdup("fix its permissions or choose another --repo"));
  if (!estimate)
    return;

  /* Estimated size: the checkpoint's changed bytes, or the allocation. */
  unsigned long long need = 0;
  struct vk_ckpt c = { 0 };
  virDomainCheckpointPtr chk = since ? virDomainCheckpointLookupByName(dom, since, 0) : NULL;
  bool sized = chk && vk_ckpt_get(chk, true, &c) == 0;
  if (chk)
    virDomainCheckpointFree(chk);
  for (size_t i = 0; targets[i]; i++) {
    virDomainBlockInfo bi;
    long long sz = -1;
    for (size_t j = 0; sized && j < c.nr_disks; j++)
      if (strcmp(c.disks[j].name, targets[i]) == 0)
        sz = c.disks[j].size;
    if (sz >= 0)
      need += sz;
    else if (virDomainGetBlockInfo(dom, targets[i], &bi, 0) == 0)
      need += bi.allocation;
  }
  vk_ckpt_clear(&c);
  struct statvfs sv;
  if (statvfs(dir, &sv) == 0 && (unsigned long long)sv.f_bavail * sv.f_frsize < need) {
    char a[32], b[32];
    vk_human_size((unsigned long long)sv.f_bavail * sv.f_frsize, a, sizeof a);
    vk_human_size(need, b, sizeof b);
    vk_report_add(rep, "no-space", VK_SEV_ERROR, NULL, dir, NULL, NULL,
                  vk_xasprintf("%s free in the repository, the backup needs about %s", a, b),
                  vk_xstrdup("free space, or choose another --repo"));
  }
}

/* Run the preflight: validator (unless disabled) and repository checks.
 * -1 if the validator could not run (reported).
 */
static int
preflight(virDomainPtr dom, struct vk_repo *repo, const struct vk_backup_request *req,
          enum vk_level level, const char *since, const struct vk_backup *parent,
          char *const *targets, const char *name, struct vk_report *rep)
{
  struct vk_validate_opts vo = {
    .checkpoint = since, .full = level == VK_LEVEL_FULL, .disks = targets,
    .new_checkpoint = name,
  };
  if (!req->no_validate) {
    if (vk_validate(dom, &vo, rep) < 0)
      return -1;
  } else {
    memset(rep, 0, sizeof *rep);
    rep->domain = vk_xstrdup(virDomainGetName(dom));
    rep->checkpoint = since ? vk_xstrdup(since) : NULL;
    rep->running = true;
  }
  check_repo(dom, repo, req->repo_dir, parent, since, targets, !req->no_validate, rep);
  return 0;
}

/* Decide the level (plan.c) from the mode and the repository; run the
 * preflight of that level, unless --auto's trial was it.  -1 if a check
 * could not run (reported).
 */
static int
plan_level(virDomainPtr dom, struct vk_repo *repo, const struct vk_backup_request *req,
           char *const *targets, const char *name, struct vk_plan *plan)
{
  const struct vk_backup *latest = repo ? vk_repo_latest(repo) : NULL;
  struct vk_plan_facts f = {
    .mode = req->mode, .since = req->since, .latest = latest,
    .since_backup = repo && req->since ? vk_repo_find_by_checkpoint(repo, req->since) : NULL,
    .chain_full = latest ? vk_repo_chain_full(repo, latest->chain) : NULL,
  };
  struct vk_report trial = { 0 };
  if (req->mode == VK_MODE_AUTO && latest) {
    /* The preflight of an incremental backup from the newest one. */
    if (preflight(dom, repo, req, VK_LEVEL_INCREMENTAL, latest->checkpoint, latest, targets,
                  name, &trial) < 0)
      return -1;
    f.trial = &trial;
  }
  vk_plan_level(&f, plan);
  vk_report_clear(&trial);
  if (plan->report.errors == 0 && !plan->preflight_done) {
    struct vk_report rep = { 0 };
    if (preflight(dom, repo, req, plan->level, plan->since, plan->parent, targets, name,
                  &rep) < 0)
      return -1;
    vk_plan_take_findings(plan, &rep);
  }
  return 0;
}

/* Whether disk TARGET is raw: no bitmaps, so every backup copies it whole. */
static bool
disk_is_raw(const struct vk_disks *all, const char *target)
{
  const struct vk_disk *d = vk_disks_find(all, target);
  return d && d->format && strcmp(d->format, "raw") == 0;
}

/* Gather the facts of each disk (format; for a non-full level whether
 * SINCE tracks it and its size then and now) and decide how it is copied.
 */
static void
plan_disks(virDomainPtr dom, const struct vk_disks *all, char *const *targets,
           struct vk_plan *plan)
{
  size_t n = vk_strv_len(targets);
  bool partial = plan->level != VK_LEVEL_FULL;
  struct vk_ckpt c = { 0 };
  virDomainCheckpointPtr chk = partial && plan->since
    ? virDomainCheckpointLookupByName(dom, plan->since, 0) : NULL;
  bool have = chk && vk_ckpt_get(chk, false, &c) == 0;
  if (chk)
    virDomainCheckpointFree(chk);
  struct vk_plan_disk_facts *d = vk_xcalloc(n + 1, sizeof *d);
  for (size_t i = 0; i < n; i++) {
    d[i] = (struct vk_plan_disk_facts) { .target = targets[i], .raw = disk_is_raw(all, targets[i]),
                                         .tracked = -1, .size_then = -1, .size_now = -1 };
    if (have) {
      d[i].tracked = 0;
      for (size_t j = 0; j < c.nr_disks; j++)
        if (strcmp(c.disks[j].name, targets[i]) == 0 && c.disks[j].bitmap)
          d[i].tracked = 1;
    }
    if (partial && plan->since) {
      virDomainBlockInfo bi;
      d[i].size_then = vk_meta_capacity(dom, plan->since, targets[i]);
      if (d[i].size_then >= 0 && virDomainGetBlockInfo(dom, targets[i], &bi, 0) == 0)
        d[i].size_now = (long long)bi.capacity;
    }
  }
  vk_ckpt_clear(&c);
  vk_plan_disks(plan, d, n);
  free(d);
}

/* Roll back a backup that did not complete: checkpoint, files, journal.
 * Returns 0, or -1 with *WHY set when the checkpoint could not be
 * confirmed deleted: then the journal and the files stay, and the next run
 * for the domain finishes the rollback (recover).
 */
static int
roll_back(virDomainPtr dom, struct vk_repo *repo, struct vk_backup *b, char **why)
{
  if (drop_checkpoint(dom, b->checkpoint, why) < 0)
    return -1;
  vk_repo_abort(repo, b);
  return 0;
}

/* Roll back after an error already reported; say so if it stays half done. */
static void
roll_back_after_error(virDomainPtr dom, struct vk_repo *repo, struct vk_backup *b)
{
  CLEANUP_FREE char *why = NULL;
  CLEANUP_FREE char *ck = vk_xstrdup(b->checkpoint);
  if (roll_back(dom, repo, b, &why) < 0)
    vk_error(VK_EXIT_FAILURE, "the checkpoint '%s' could not be deleted (%s); the next vckpt "
             "run for this domain will finish the rollback", ck, why);
  else if (vk_stop_signal)
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: the backup was rolled back "
             "(checkpoint '%s' deleted, files removed)", (int)vk_stop_signal, ck);
}

/* If SIGINT or SIGTERM came, give up B (nothing started in libvirt yet
 * that the rollback does not undo) and report it.
 */
static bool
stopped_before_job(virDomainPtr dom, struct vk_repo *repo, struct vk_backup *b)
{
  if (!vk_stop_signal)
    return false;
  vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d before the backup job started: "
           "nothing was left behind", (int)vk_stop_signal);
  CLEANUP_FREE char *why = NULL;
  CLEANUP_FREE char *ck = vk_xstrdup(b->checkpoint);
  if (roll_back(dom, repo, b, &why) < 0)
    vk_error(VK_EXIT_FAILURE, "the checkpoint '%s' could not be deleted (%s); the next vckpt "
             "run for this domain will finish the rollback", ck, why);
  return true;
}

/* Start the job and see it through; seal, then commit or roll back. */
static int
run(virDomainPtr dom, struct vk_repo *repo, struct vk_backup *b,
    const struct vk_backup_request *req, struct vk_job *job, char *const *targets,
    struct vk_backup_outcome *out)
{
  CLEANUP_FREE char *name = vk_xstrdup(b->checkpoint);
  if (stopped_before_job(dom, repo, b))
    return -1;
  CLEANUP_FREE char *dxml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_SECURE);
  if (!dxml) {
    vk_virt_error("cannot read the domain XML");
    vk_repo_abort(repo, b);
    return -1;
  }
  int prepared = job->ops->prepare(job);
  if (prepared > 0 && stopped_before_job(dom, repo, b))
    return -1;
  if (prepared != 0) {
    vk_repo_abort(repo, b);
    return -1;
  }
  if (vk_repo_write_file(repo, b->domain_xml, dxml) < 0) {
    vk_repo_abort(repo, b);
    return -1;
  }
  if (stopped_before_job(dom, repo, b))
    return -1;
  vk_flow_message(req->cb, VK_MSG_DEBUG, "starting the %s job", job->ops->kind);
  struct vk_job_result res = { 0 };
  if (job->ops->start(job) < 0 || job->ops->wait(job, req->cb, &res) < 0) {
    /* The checkpoint may exist if libvirt went away during the call. */
    vk_job_close(job);
    free(res.error);
    roll_back_after_error(dom, repo, b);
    return -1;
  }
  vk_job_close(job);
  out->bytes = res.bytes;
  out->seconds = res.seconds;
  if (!res.ok) {
    CLEANUP_FREE char *why = NULL;
    if (roll_back(dom, repo, b, &why) < 0)
      vk_error(VK_EXIT_FAILURE, "the backup %s: %s; the checkpoint '%s' could not be deleted "
               "(%s); the next vckpt run for this domain will finish the rollback",
               res.interrupted ? "was interrupted" : "failed",
               res.error ? res.error : "unknown error", name, why);
    else if (res.interrupted)
      vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: the backup job was aborted, "
               "its checkpoint '%s' deleted and its partial files removed",
               (int)vk_stop_signal, name);
    else
      vk_error(VK_EXIT_FAILURE, "the backup failed: %s; its checkpoint '%s' and partial files "
               "were removed", res.error, name);
    free(res.error);
    return -1;
  }
  free(res.error);

  /* Seal: QEMU finishes the target files when it closes them, after the
   * job's end is reported: checksums are taken once it has let go of them.
   */
  for (size_t i = 0; i < b->nr_disks; i++) {
    CLEANUP_FREE char *file = vk_repo_path(repo, b->disks[i].file);
    int tries = 0;
    while (vk_image_held(file) && tries++ < 600)   /* up to 60 s */
      usleep(100000);
    if (tries > 0)
      vk_flow_message(req->cb, VK_MSG_DEBUG, "waited %d ms for QEMU to close %s", tries * 100,
                      file);
    if (tries > 600) {
      vk_error(VK_EXIT_FAILURE, "QEMU still has %s open 60 s after the backup ended", file);
      roll_back_after_error(dom, repo, b);
      return -1;
    }
  }
  virDomainCheckpointPtr chk = virDomainCheckpointLookupByName(dom, name, 0);
  CLEANUP_FREE char *ck_xml = chk ? virDomainCheckpointGetXMLDesc(chk, 0) : NULL;
  if (chk)
    virDomainCheckpointFree(chk);
  for (size_t i = 0; i < b->nr_disks; i++) {
    struct stat st;
    CLEANUP_FREE char *file = vk_repo_path(repo, b->disks[i].file);
    if (stat(file, &st) == 0)
      b->disks[i].bytes = (uint64_t)st.st_blocks * 512;
    out->written += b->disks[i].bytes;
  }
  if (!ck_xml) {
    vk_virt_error("cannot read checkpoint '%s' after the backup", name);
    roll_back_after_error(dom, repo, b);
    return -1;
  }
  if (vk_stop_signal) {
    roll_back_after_error(dom, repo, b);
    return -1;
  }
  if (out->auto_reason)
    b->note = vk_xasprintf("auto: new full chain: %s", out->auto_reason);
  /* The last libvirt call comes before hashing, which can take minutes. */
  vk_meta_record(dom, name, targets);
  vk_flow_message(req->cb, VK_MSG_DEBUG, "hashing and committing the backup files");
  if (vk_repo_write_file(repo, b->checkpoint_xml, ck_xml) < 0 || vk_repo_commit(repo, b) < 0) {
    roll_back_after_error(dom, repo, b);
    return -1;
  }
  return 0;
}

/* Everything that happens while the repository is open and locked: plan,
 * journal, job, seal, commit or roll back.
 */
static int
backup_locked(virConnectPtr conn, virDomainPtr dom, struct vk_repo *repo,
              const struct vk_backup_request *req, struct vk_backup_outcome *out)
{
  const char *domname = virDomainGetName(dom);
  CLEANUP_STRV char **targets = NULL;
  CLEANUP_FREE char *name = NULL;
  CLEANUP_DISKS struct vk_disks all = { 0 };
  char uuid[VIR_UUID_STRING_BUFLEN];

  if (virDomainGetUUIDString(dom, uuid) < 0) {
    vk_virt_error("cannot read the UUID of domain '%s'", domname);
    return -1;
  }
  /* A dry run writes nothing; REPO is NULL when it has no backup yet. */
  if ((repo && vk_repo_check_uuid(repo, uuid) < 0) ||
      (!req->dry_run && recover(dom, repo, req->cb) < 0) ||
      vk_domain_disks(dom, 0, &all) < 0 ||
      choose_disks(&all, domname, req, &targets) < 0)
    return -1;
  if (req->name) {
    int e = vk_checkpoint_exists(dom, req->name);
    if (e != 0) {
      if (e > 0)
        vk_error(VK_EXIT_USAGE, "checkpoint '%s' already exists", req->name);
      return -1;
    }
    name = vk_xstrdup(req->name);
  } else
    name = new_checkpoint_name(dom);

  /* The plan: level, parent, preflight, then how each disk is copied. */
  struct vk_plan plan = { 0 };
  if (plan_level(dom, repo, req, targets, name, &plan) < 0) {
    vk_plan_clear(&plan);
    return -1;
  }
  out->level = plan.level;
  out->since = plan.since ? vk_xstrdup(plan.since) : NULL;
  out->auto_reason = plan.auto_reason ? vk_xstrdup(plan.auto_reason) : NULL;
  const struct vk_backup *parent = plan.parent;
  if (!plan.report.domain)
    plan.report.domain = vk_xstrdup(domname);
  if (plan.since && !plan.report.checkpoint)
    plan.report.checkpoint = vk_xstrdup(plan.since);
  if (vk_plan_refused(&plan)) {
    out->report = plan.report;
    memset(&plan.report, 0, sizeof plan.report);
    vk_plan_clear(&plan);
    vk_error(VK_EXIT_PREFLIGHT, "backup refused by the preflight check: %zu problem%s; "
             "nothing was started", out->report.errors, out->report.errors == 1 ? "" : "s");
    return -1;
  }
  if (vk_stop_signal && !req->dry_run) {
    out->report = plan.report;
    memset(&plan.report, 0, sizeof plan.report);
    vk_plan_clear(&plan);
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d before the backup started: "
             "nothing was changed", (int)vk_stop_signal);
    return -1;
  }
  /* One job, one point in time: disks that cannot be incremental are
   * copied whole (backupmode='full'), the others incrementally.  Raw
   * disks cannot hold a bitmap: the checkpoint leaves them out.
   */
  plan_disks(dom, &all, targets, &plan);
  out->report = plan.report;
  memset(&plan.report, 0, sizeof plan.report);
  CLEANUP_FREE char **whole = vk_plan_whole(&plan);
  CLEANUP_FREE char **tracked = vk_plan_bitmaps(&plan);

  /* The file of each disk: from the journal, or for a dry run, which
   * writes nothing, the names the backup would get.
   */
  size_t nt = vk_strv_len(targets);
  struct vk_backup *b = NULL;
  CLEANUP_STRV char **files = vk_xcalloc(nt + 1, sizeof *files);
  CLEANUP_STRV char **backing = vk_xcalloc(nt + 1, sizeof *backing);
  CLEANUP_FREE struct vk_job_disk *jd = vk_xcalloc(nt + 1, sizeof *jd);
  if (req->dry_run) {
    char stamp[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    static const char *const prefix[] = { "full", "inc", "diff" };
    out->id = vk_xasprintf("%s-%s", prefix[out->level], stamp);
    out->chain = vk_xstrdup(parent ? parent->chain : stamp);
    CLEANUP_FREE char *base = repo ? vk_xstrdup(vk_repo_dir(repo))
                                   : vk_xasprintf("%s/%s", req->repo_dir, domname);
    for (size_t i = 0; i < nt; i++)
      files[i] = vk_xasprintf("%s/%s/%s.%s.qcow2", base, out->chain, out->id, targets[i]);
  } else {
    if (vk_repo_begin(repo, out->level, name, out->since, parent, targets, whole, &b) < 0) {
      vk_plan_clear(&plan);
      return -1;
    }
    for (size_t i = 0; i < nt; i++) {
      virDomainBlockInfo bi;
      if (virDomainGetBlockInfo(dom, b->disks[i].target, &bi, 0) == 0)
        b->disks[i].virtual_size = bi.capacity;
      files[i] = vk_repo_path(repo, b->disks[i].file);
      const char *bk = b->disks[i].backing;
      if (bk)
        backing[i] = vk_xstrdup(strrchr(bk, '/') ? strrchr(bk, '/') + 1 : bk);
    }
    out->id = vk_xstrdup(b->id);
    out->chain = vk_xstrdup(b->chain);
  }
  for (size_t i = 0; i < nt; i++)
    jd[i] = (struct vk_job_disk) { .target = targets[i], .file = files[i],
                                   .backing = backing[i], .whole = plan.disks[i].whole,
                                   .size = b ? b->disks[i].virtual_size : 0 };
  CLEANUP_FREE char **alltargets = vk_xcalloc(all.n + 1, sizeof *alltargets);
  for (size_t i = 0, n = 0; i < all.n; i++)
    if (strcmp(all.disk[i].device, "disk") == 0 && !all.disk[i].readonly)
      alltargets[n++] = all.disk[i].target;
  CLEANUP_FREE char *identity = vk_ckpt_new_identity();
  struct vk_ckpt_spec spec = { .name = name, .description = identity, .disks = tracked,
                               .all_disks = alltargets };
  xmlDocPtr cdoc = vk_ckpt_build(&spec);
  out->checkpoint_xml = vk_xml_format(cdoc);
  xmlFreeDoc(cdoc);
  struct vk_job_spec js = {
    .conn = conn, .dom = dom, .incremental = out->since, .disks = jd, .n = nt,
    .all = alltargets, .checkpoint_xml = out->checkpoint_xml, .quiesce = req->quiesce,
  };
  struct vk_job job;
  vk_job_init(&job, &vk_job_push_ops, &js);
  out->backup_xml = job.ops->describe(&job);
  out->checkpoint = vk_xstrdup(name);
  vk_flow_message(req->cb, VK_MSG_DEBUG, "backup XML:\n%s\ncheckpoint XML:\n%s", out->backup_xml,
                  out->checkpoint_xml);
  int r = 0;
  if (!req->dry_run)
    r = run(dom, repo, b, req, &job, targets, out);
  vk_job_close(&job);
  vk_plan_clear(&plan);
  return r;
}

int
vk_backup(virConnectPtr conn, virDomainPtr dom, const struct vk_backup_request *req,
          struct vk_backup_outcome *out)
{
  const char *domname = virDomainGetName(dom);
  struct vk_repo *repo = NULL;
  /* Progress and messages: the caller's callbacks, else printed. */
  struct vk_flow_cb defcb = { .quiet = req->quiet };
  struct vk_backup_request withcb = *req;
  if (!withcb.cb)
    withcb.cb = &defcb;
  req = &withcb;

  memset(out, 0, sizeof *out);
  if (!vk_domain_is_active(dom)) {
    vk_error(VK_EXIT_FAILURE, "domain '%s' is not running: libvirt backs up running domains "
             "only (start it, paused if need be: virsh start --paused)", domname);
    return -1;
  }
  if (req->name && vk_check_name("checkpoint", req->name) < 0)
    return -1;
  char uuid[VIR_UUID_STRING_BUFLEN];
  if (virDomainGetUUIDString(dom, uuid) < 0) {
    vk_virt_error("cannot read the UUID of domain '%s'", domname);
    return -1;
  }
  /* From here to the end a signal is noticed, not fatal: every phase
   * either rolls back (exit 6) or, once committed, completes.
   */
  vk_stop_catch_begin();
  int lockfd = -1;
  if (!req->dry_run && (lockfd = host_lock(domname, uuid, req->repo_dir)) < 0) {
    vk_stop_catch_end();
    return -1;
  }
  int r = -1;
  if (req->dry_run) {
    /* Read-only: no directory, no lock file, no journal is created. */
    CLEANUP_FREE char *dir = vk_xasprintf("%s/%s", req->repo_dir, domname);
    if (access(dir, F_OK) != 0 && errno == ENOENT)
      r = backup_locked(conn, dom, NULL, req, out);
    else if (vk_repo_open(req->repo_dir, domname, false, false, &repo) == 0) {
      r = backup_locked(conn, dom, repo, req, out);
      vk_repo_close(repo);
    }
  } else if (vk_repo_open(req->repo_dir, domname, true, true, &repo) == 0) {
    r = backup_locked(conn, dom, repo, req, out);
    vk_repo_close(repo);
  }
  host_unlock(lockfd);
  if (r == 0 && vk_stop_signal && !req->dry_run)
    vk_flow_message(req->cb, VK_MSG_WARNING, "signal %d came too late to stop the backup: it was committed and is complete",
            (int)vk_stop_signal);
  vk_stop_catch_end();
  return r;
}

int
vk_repo_preflight(virDomainPtr dom, const char *repo_dir, const char *since,
                  char *const *targets, struct vk_report *rep)
{
  struct vk_repo *repo = NULL;
  const char *domname = virDomainGetName(dom);
  CLEANUP_FREE char *q = vk_shell_quote(domname);
  CLEANUP_FREE char *dir = vk_xasprintf("%s/%s", repo_dir, domname);
  CLEANUP_STRV char **all = NULL;
  if (!targets) {
    struct vk_disks d = { 0 };
    struct vk_backup_request none = { 0 };
    if (vk_domain_disks(dom, 0, &d) < 0)
      return -1;
    int r = choose_disks(&d, domname, &none, &all);
    vk_disks_clear(&d);
    if (r < 0)
      return -1;
    targets = all;
  }
  if (access(dir, F_OK) != 0 && errno == ENOENT) {
    /* No repository for this domain yet: only a full backup can start it. */
    if (since)
      vk_report_add(rep, "previous-backup-missing", VK_SEV_ERROR, NULL, repo_dir, NULL, since,
                    vk_xasprintf("the repository has no backup of '%s' yet", domname),
                    vk_xasprintf("take a full backup first (vckpt backup %s --full)", q));
    return 0;
  }
  if (vk_repo_open(repo_dir, domname, false, false, &repo) < 0)
    return -1;
  const struct vk_backup *parent = since ? vk_repo_find_by_checkpoint(repo, since) : NULL;
  if (since && !parent)
    vk_report_add(rep, "previous-backup-missing", VK_SEV_ERROR, NULL, NULL, NULL, since,
                  vk_xasprintf("the repository has no complete backup that ended at "
                               "checkpoint '%s'", since),
                  vk_xasprintf("take a full backup to start a new chain "
                               "(vckpt backup %s --full)", q));
  check_repo(dom, repo, repo_dir, parent, since, targets, true, rep);
  vk_repo_close(repo);
  return 0;
}
