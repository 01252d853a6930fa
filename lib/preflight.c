/* vckpt - the preflight of a backup: the validator and the repository's
 * own checks (the parent's files, the checkpoint's identity, the
 * directory, free space).  What the plan (plan.h) decides with.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>

#include "access.h"
#include "checkpoint-xml.h"
#include "preflight.h"
#include "util.h"
#include "virt.h"
#include "xml.h"

/* The disks to back up: --disk, else every writable disk, less --exclude. */
int
vk_choose_disks(const struct vk_disks *all, const char *domname, char *const *disks,
                char *const *exclude, char ***out)
{
  if (vk_disks_check(all, domname, disks) < 0 || vk_disks_check(all, domname, exclude) < 0)
    return -1;
  char **v = vk_xcalloc(all->n + 1, sizeof *v);
  size_t n = 0;
  for (size_t i = 0; i < all->n; i++) {
    const struct vk_disk *d = &all->disk[i];
    if (strcmp(d->device, "disk") != 0 || d->readonly)
      continue;
    if (disks && !vk_strv_contains(disks, d->target))
      continue;
    if (exclude && vk_strv_contains(exclude, d->target))
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
read_record(const struct vk_repo *repo, const char *relative, char **why)
{
  struct stat st;
  int fd = vk_repo_open_file(repo, relative, &st);
  if (fd < 0) {
    *why = vk_xstrdup(errno == EINVAL ? "not a regular file" : strerror(errno));
    return NULL;
  }
  if (st.st_size > (4 << 20)) {
    *why = vk_xstrdup("larger than 4 MiB");
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

/* Whether libvirt's checkpoint SINCE is the one backup PARENT ended at
 * (or, for a full backup with a differential base, that base): the same
 * name, creation time and identity as recorded in the repository
 * (ID.checkpoint.xml, or the base's record).  A checkpoint deleted and
 * re-created under the same name tracks changes only from its
 * re-creation: stacking on PARENT would lose what was written in between.
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
  const char *record = parent->checkpoint_xml;
  bool base = parent->base.checkpoint && strcmp(parent->base.checkpoint, since) == 0;
  if (base)
    record = parent->base.record;
  CLEANUP_FREE char *what = base ? vk_xasprintf("the differential base of backup %s", parent->id)
                                 : vk_xasprintf("the one backup %s ended at", parent->id);
  CLEANUP_FREE char *path = vk_repo_file_where(repo, record);
  CLEANUP_FREE char *why = NULL;
  CLEANUP_FREE char *rec_xml = read_record(repo, record, &why);
  CLEANUP_FREE char *fix = vk_xasprintf("take a full backup to start a new chain "
                                        "(vckpt backup %s --full)", q);
  struct identity live = { 0 }, rec = { 0 };
  if (!rec_xml || identity_parse(rec_xml, &rec) < 0) {
    vk_report_add(rep, "checkpoint-unverified", VK_SEV_ERROR, NULL, path, NULL, since,
                  vk_xasprintf("the record of checkpoint '%s' of backup %s cannot be read (%s): "
                               "whether libvirt's checkpoint is %s is unknown", since, parent->id,
                               why ? why : "not checkpoint XML", what),
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
                  vk_xasprintf("checkpoint '%s' is not %s (that one was created %s; "
                               "libvirt's was created %s%s): it was deleted and re-created, "
                               "and what was written in between is not tracked",
                               since, what, a, b,
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
           bool estimate, bool qemu_writes, struct vk_report *rep)
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
  CLEANUP_FREE char *dir = repo ? vk_repo_target(repo, NULL) : vk_xstrdup(repo_dir);
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
  /* A push backup: QEMU, as its own user, opens the targets libvirt hands
   * it (chowned to it) by path; the directories vckpt makes below are
   * searchable (access.h), the ones above are the admin's.  (A pull
   * backup's files are written by vckpt's own qemu-storage-daemon.)
   */
  struct vk_qemu_user qu;
  mode_t mode;
  uid_t owner;
  if (qemu_writes && vk_domain_is_active(dom) &&
      vk_qemu_user(virDomainGetConnect(dom), dom, &qu) == 0) {
    CLEANUP_FREE char *blocker = vk_qemu_blocker(&qu, dir, &mode, &owner);
    if (blocker)
      vk_report_add(rep, "qemu-cannot-reach", VK_SEV_ERROR, NULL, blocker, NULL, NULL,
                    vk_xasprintf("QEMU runs as uid %u and cannot search %s (owner uid %u, "
                                 "mode %04o): it could not open the backup's files",
                                 (unsigned)qu.uid, blocker, (unsigned)owner, (unsigned)mode),
                    vk_xasprintf("make it searchable: chmod o+x %s (the repository's own "
                                 "directories are 0711 and its files 0600), or give it "
                                 "QEMU's group %u and g+x", blocker, (unsigned)qu.gid));
  }
  if (!estimate)
    return;

  /* Estimated size: the checkpoint's changed bytes, or the allocation. */
  unsigned long long need = 0;
  struct vk_ckpt c = { 0 };
  /* libvirt knows the changed bytes of a running domain only. */
  virDomainCheckpointPtr chk = since && vk_domain_is_active(dom)
    ? virDomainCheckpointLookupByName(dom, since, 0) : NULL;
  CLEANUP_FREE char *why = NULL;   /* no size known: the allocation is the estimate */
  bool sized = chk && vk_ckpt_get_quiet(chk, true, &c, &why) == 0;
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
int
vk_backup_preflight(virDomainPtr dom, struct vk_repo *repo, const char *repo_dir,
                    bool no_validate, enum vk_level level, const char *since,
                    const struct vk_backup *parent, char *const *targets, const char *name,
                    bool qemu_writes, struct vk_report *rep)
{
  struct vk_validate_opts vo = {
    .checkpoint = since, .full = level == VK_LEVEL_FULL, .disks = targets,
    .new_checkpoint = name,
  };
  if (!no_validate) {
    if (vk_validate(dom, &vo, rep) < 0)
      return -1;
  } else {
    memset(rep, 0, sizeof *rep);
    rep->domain = vk_xstrdup(virDomainGetName(dom));
    rep->checkpoint = since ? vk_xstrdup(since) : NULL;
    rep->running = true;
  }
  check_repo(dom, repo, repo_dir, parent, since, targets, !no_validate, qemu_writes, rep);
  return 0;
}

int
vk_repo_validate(virDomainPtr dom, const char *repo_dir, enum vk_mode mode, const char *since,
                 char *const *targets, struct vk_report *rep)
{
  memset(rep, 0, sizeof *rep);
  const char *domname = virDomainGetName(dom);
  CLEANUP_FREE char *dir = vk_xasprintf("%s/%s", repo_dir, domname);
  CLEANUP_STRV char **all = NULL;
  if (!targets) {
    struct vk_disks d = { 0 };
    if (vk_domain_disks(dom, 0, &d) < 0)
      return -1;
    int r = vk_choose_disks(&d, domname, NULL, NULL, &all);
    vk_disks_clear(&d);
    if (r < 0)
      return -1;
    targets = all;
  }
  /* No repository for this domain yet: only a full backup can start it. */
  struct vk_repo *repo = NULL;
  if ((access(dir, F_OK) == 0 || errno != ENOENT) &&
      vk_repo_open(repo_dir, domname, false, false, &repo) < 0)
    return -1;
  /* The level, checkpoint and parent, decided as backup decides them;
   * --auto is answered by the incremental backup it tries first.
   */
  const struct vk_backup *latest = repo ? vk_repo_latest(repo) : NULL;
  CLEANUP_FREE char *host = vk_conn_remote_host(virDomainGetConnect(dom));
  struct vk_plan_facts f = {
    .running = vk_domain_is_active(dom), .remote = host != NULL, .pull = -1,
    .mode = mode, .since = since, .latest = latest,
    .since_backup = repo && since ? vk_repo_find_by_checkpoint(repo, since) : NULL,
    .chain_full = latest ? vk_repo_chain_full(repo, latest->chain) : NULL,
  };
  if (mode == VK_MODE_AUTO) {
    f.mode = latest ? VK_MODE_INCREMENTAL : VK_MODE_FULL;
    f.since = latest ? latest->checkpoint : NULL;
    f.since_backup = latest;
  }
  struct vk_plan plan = { 0 };
  vk_plan_level(&f, &plan);
  int r = vk_backup_preflight(dom, repo, repo_dir, false, plan.level, plan.since, plan.parent,
                              targets, NULL, plan.job == VK_JOB_PUSH, rep);
  if (r == 0) {
    /* What refuses the level outright (no backup to stack on). */
    for (size_t i = 0; i < plan.report.n; i++) {
      struct vk_finding *g = &plan.report.f[i];
      vk_report_add(rep, g->code, g->severity, g->disk, g->image, g->bitmap, g->checkpoint,
                    g->message, g->action);
      g->message = g->action = NULL;
    }
  }
  vk_plan_clear(&plan);
  if (repo)
    vk_repo_close(repo);
  return r;
}

int
vk_validate_domain(virConnectPtr conn, const struct vk_validate_request *req,
                   struct vk_report *rep)
{
  memset(rep, 0, sizeof *rep);
  CLEANUP_DOMAIN virDomainPtr dom = vk_domain_lookup(conn, req->domain);
  if (!dom)
    return -1;
  if (req->repo) {
    enum vk_mode mode = req->full ? VK_MODE_FULL
                      : req->checkpoint ? VK_MODE_INCREMENTAL
                      : req->differential ? VK_MODE_DIFFERENTIAL : VK_MODE_AUTO;
    if (vk_repo_validate(dom, req->repo, mode, req->checkpoint, req->disks, rep) < 0) {
      vk_report_clear(rep);
      return -1;
    }
    return 0;
  }
  struct vk_validate_opts vo = {
    .checkpoint = req->checkpoint, .full = req->full, .disks = req->disks,
  };
  return vk_validate(dom, &vo, rep);
}
