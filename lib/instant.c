/* vckpt - instant recovery (instant.h). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libvirt/virterror.h>

#include "access.h"
#include "backup.h"
#include "drill.h"
#include "fileio.h"
#include "job.h"
#include "fleet.h"
#include "instant.h"
#include "output.h"
#include "overlay.h"
#include "process.h"
#include "repo.h"
#include "testhook.h"
#include "util.h"
#include "virt.h"
#include "xml.h"

/* ---- the record ---- */

/* The domains array of the record REC (repo.h, "Side records"): a new
 * reference, an empty array when there is no file.  NULL: the file is
 * unusable (reported), so nothing may be written over it.
 */
static json_object *
load_domains(const struct vk_record *rec)
{
  CLEANUP_FREE char *text = NULL;
  const char *path = rec->path;
  if (vk_record_read(rec, 16 << 20, VK_READ_MISSING_OK, &text) < 0)
    return NULL;
  if (!text)
    return json_object_new_array();
  json_object *root = json_tokener_parse(text), *arr = NULL, *v = NULL;
  if (!root || !json_object_is_type(root, json_type_object) ||
      !json_object_object_get_ex(root, "version", &v) || json_object_get_int(v) != 1 ||
      !json_object_object_get_ex(root, "domains", &arr) ||
      !json_object_is_type(arr, json_type_array)) {
    vk_error(VK_EXIT_FAILURE, "%s: not an instant recovery record of version 1", path);
    json_object_put(root);
    return NULL;
  }
  json_object_get(arr);
  json_object_put(root);
  return arr;
}

/* The entry of domain NAME in ARR, or NULL. */
static json_object *
find_entry(json_object *arr, const char *name, size_t *idx)
{
  for (size_t i = 0; i < json_object_array_length(arr); i++) {
    json_object *e = json_object_array_get_idx(arr, i), *v = NULL;
    if (json_object_is_type(e, json_type_object) && json_object_object_get_ex(e, "name", &v) &&
        json_object_is_type(v, json_type_string) && strcmp(json_object_get_string(v), name) == 0) {
      if (idx)
        *idx = i;
      return e;
    }
  }
  return NULL;
}

bool
vk_instant_entry_live(json_object *entry)
{
  json_object *ov = NULL;
  if (!json_object_object_get_ex(entry, "overlays", &ov) ||
      !json_object_is_type(ov, json_type_array))
    return true;            /* unknown: assume it runs */
  for (size_t i = 0; i < json_object_array_length(ov); i++) {
    const char *p = json_object_get_string(json_object_array_get_idx(ov, i));
    struct stat st;
    if (!p || lstat(p, &st) == 0 || errno != ENOENT)
      return true;
  }
  return false;
}

/* Write ARR as the record REC. */
static int
save_domains(const struct vk_record *rec, json_object *arr)
{
  json_object *root = json_object_new_object();
  json_object_object_add(root, "version", json_object_new_int(1));
  json_object_object_add(root, "domains", json_object_get(arr));
  CLEANUP_FREE char *text = vk_xasprintf("%s\n", json_object_to_json_string_ext(
    root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(root);
  return vk_record_write(rec, text);
}

/* Open the record of REPO (or, without it, of the domain directory DIR)
 * and take its lock.  0, or -1 (reported).
 */
static int
open_record(const struct vk_repo *repo, const char *dir, struct vk_record *rec)
{
  int r = repo ? vk_repo_record_open(repo, VK_INSTANT_FILE, true, rec)
               : vk_record_open(dir, VK_INSTANT_FILE, true, rec);
  if (r < 0)
    vk_error(VK_EXIT_FAILURE, "%s: %s", repo ? vk_repo_where(repo) : dir, strerror(errno));
  return r;
}

/* Add NAME (running from backup ID on the overlays R) to the record of
 * REPO; a name already there is refused.
 */
static int
record_add(const struct vk_repo *repo, const char *name, const char *id,
           const struct vk_restored *r, size_t n)
{
  struct vk_record rec;
  if (open_record(repo, NULL, &rec) < 0)
    return -1;
  const char *path = rec.path;
  json_object *arr = load_domains(&rec);
  if (!arr) {
    vk_record_close(&rec);
    return -1;
  }
  size_t idx;
  json_object *old = find_entry(arr, name, &idx);
  if (old && !vk_instant_entry_live(old)) {
    /* Left by an --instant that was interrupted before it made anything:
     * libvirt has no such domain (checked before) and none of its
     * overlays exists, so nothing can run from it, here or elsewhere.
     */
    vk_warn("'%s' in %s names no overlay that exists: a stale entry of an interrupted "
            "restore --instant, removed", name, path);
    json_object_array_del_idx(arr, idx, 1);
    old = NULL;
  }
  if (old) {
    vk_error(VK_EXIT_BUSY, "'%s' already runs from a backup here (%s): finish it first "
             "(vckpt restore --finish %s --to DIR)", name, path, name);
    json_object_put(arr);
    vk_record_close(&rec);
    return -1;
  }
  json_object *e = json_object_new_object();
  json_object_object_add(e, "name", vk_json_string(name));
  json_object_object_add(e, "backup", vk_json_string(id));
  json_object *ov = json_object_new_array();
  for (size_t i = 0; i < n; i++)
    json_object_array_add(ov, vk_json_string(r[i].path));
  json_object_object_add(e, "overlays", ov);
  json_object_object_add(e, "start", json_object_new_int64(time(NULL)));
  json_object_array_add(arr, e);
  int rc = save_domains(&rec, arr);
  json_object_put(arr);
  vk_record_close(&rec);
  return rc;
}

/* Remove NAME from the record of REPO, or without it of the domain
 * directory DIR (quietly absent).
 */
static int
record_remove(const struct vk_repo *repo, const char *dir, const char *name)
{
  struct vk_record rec;
  if (open_record(repo, dir, &rec) < 0)
    return -1;
  json_object *arr = load_domains(&rec);
  if (!arr) {
    vk_record_close(&rec);
    return -1;
  }
  size_t idx;
  int rc = 0;
  if (find_entry(arr, name, &idx)) {
    json_object_array_del_idx(arr, idx, 1);
    if (json_object_array_length(arr) == 0)
      rc = vk_record_remove(&rec);
    else
      rc = save_domains(&rec, arr);
  }
  json_object_put(arr);
  vk_record_close(&rec);
  return rc;
}

/* ---- restore --instant ---- */

/* Whether a stop signal came (reported: exit 6, nothing is left behind). */
static bool
instant_stopped(void)
{
  if (!vk_stop_signal)
    return false;
  vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: the instant recovery was undone, "
           "nothing was left behind", (int)vk_stop_signal);
  return true;
}

int
vk_instant_start(virConnectPtr conn, const struct vk_restore_request *req, char **backup_id,
                 struct vk_restored **out, size_t *n)
{
  *out = NULL;
  *n = 0;
  virDomainPtr clash = virDomainLookupByName(conn, req->define);
  if (clash) {
    virDomainFree(clash);
    vk_error(VK_EXIT_FAILURE, "a domain named '%s' already exists: nothing was done",
             req->define);
    return -1;
  }
  /* The domain will name its overlays by path in --to: only root may
   * change it, and QEMU's user must reach it and the repository (access.h).
   */
  CLEANUP_FREE char *absdir = NULL;
  struct vk_qemu_user qu;
  CLEANUP_CLOSE int tofd = vk_domain_dir_open(conn, req->to, "--to", &absdir, &qu);
  if (tofd < 0)
    return -1;
  struct vk_repo *repo = NULL;
  /* From here a stop signal undoes what was made, as a failure does. */
  vk_stop_catch_begin();
  if (vk_repo_open_shared(req->repo_dir, req->domain, &repo) < 0) {
    vk_stop_catch_end();
    return -1;
  }
  const struct vk_backup *b = NULL;
  CLEANUP_FREE char *why = NULL;
  CLEANUP_XMLDOC xmlDocPtr doc = NULL;
  int rc = vk_repo_find_point(repo, req->at, &b);
  if (rc == 0) {
    /* QEMU's user opens the backup's files in its chain directory. */
    CLEANUP_FREE char *chain = vk_repo_target(repo, b->chain);
    if (vk_qemu_check_reach(&qu, chain, "repository") < 0)
      rc = -1;
  }
  if (rc == 0 && (rc = vk_repo_check_chain(repo, b, &why)) > 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s: backup %s cannot be used", vk_repo_where(repo), why,
             b->id);
    rc = -1;
  }
  if (rc == 0 && !(doc = vk_backup_domain_doc(repo, b)))
    rc = -1;
  struct vk_restored *r = NULL;
  size_t nr = 0;
  if (rc == 0) {
    r = vk_xcalloc(b->nr_disks, sizeof *r);
    for (size_t i = 0; i < b->nr_disks && rc == 0; i++) {
      CLEANUP_FREE char *name = vk_xasprintf("%s-%s.instant.qcow2", req->define,
                                             b->disks[i].target);
      r[i].target = vk_xstrdup(b->disks[i].target);
      r[i].path = vk_xasprintf("%s/%s", absdir, name);
      nr = i + 1;
      struct stat st;
      if (fstatat(tofd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT) {
        vk_error(VK_EXIT_FAILURE, "%s already exists: nothing was done", r[i].path);
        rc = -1;
      }
    }
  }
  if (rc == 0)
    vk_test_hook("instant-overlays");
  if (rc == 0 && instant_stopped())
    rc = -1;
  if (rc == 0)
    rc = record_add(repo, req->define, b->id, r, nr);
  bool recorded = rc == 0;
  size_t made = 0;
  for (size_t i = 0; i < nr && rc == 0; i++) {
    CLEANUP_FREE char *backing = vk_repo_target(repo, b->disks[i].file);
    rc = vk_overlay_create_in(tofd, absdir, strrchr(r[i].path, '/') + 1, backing,
                              b->disks[i].virtual_size);
    if (rc == 0)
      made++;          /* only what vckpt made is removed on failure */
    if (rc == 0 && instant_stopped())
      rc = -1;
  }
  virDomainPtr dom = NULL;
  if (rc == 0) {
    CLEANUP_FREE char *dpath = vk_repo_file_where(repo, b->domain_xml);
    struct vk_domain_rewrite rw = { .name = req->define, .disks = r, .n = nr };
    CLEANUP_FREE char *xml = vk_domain_rewrite(doc, dpath, &rw);
    if (!xml)
      rc = -1;
    else if (!(dom = virDomainDefineXML(conn, xml))) {
      vk_virt_error("cannot define domain '%s'", req->define);
      rc = -1;
    } else if (vk_test_hook("instant-defined"), vk_stop_signal) {
      if (virDomainUndefine(dom) < 0)
        vk_virt_error("interrupted by signal %d, but domain '%s' could not be undefined "
                      "(undefine it by hand)", (int)vk_stop_signal, req->define);
      else
        instant_stopped();
      rc = -1;
    } else if (virDomainCreate(dom) < 0) {
      vk_virt_error("cannot start domain '%s'", req->define);
      if (virDomainUndefine(dom) < 0)
        vk_virt_error("domain '%s' could not be undefined (undefine it by hand)", req->define);
      rc = -1;
    } else if (vk_stop_signal)
      vk_warn("signal %d came too late to stop the instant recovery: domain '%s' runs",
              (int)vk_stop_signal, req->define);
  }
  if (dom)
    virDomainFree(dom);
  if (rc < 0) {
    /* Nothing left: the overlays made, the record. */
    for (size_t i = 0; i < made; i++)
      unlinkat(tofd, strrchr(r[i].path, '/') + 1, 0);
    if (recorded)
      record_remove(repo, NULL, req->define);
    vk_repo_give_back(repo);    /* libvirt may have chowned the chain for the start */
    vk_restored_free(r, nr);
  } else {
    *backup_id = vk_xstrdup(b->id);
    *out = r;
    *n = nr;
  }
  vk_repo_close(repo);
  vk_stop_catch_end();
  return rc;
}

/* ---- restore --finish ---- */

/* The repository directory (REPO/DOMAIN) whose record has NAME, in *DIR. */
static int
find_record(const char *repo_dir, const char *name, char **dir, json_object **entry)
{
  CLEANUP_STRV char **names = NULL;
  if (vk_fleet_repo_domains(repo_dir, &names) < 0)
    return -1;
  CLEANUP_FREE char *absrepo = realpath(repo_dir, NULL);
  for (size_t i = 0; absrepo && names[i]; i++) {
    CLEANUP_FREE char *d = vk_xasprintf("%s/%s", absrepo, names[i]);
    struct vk_record rec;
    if (vk_record_open(d, VK_INSTANT_FILE, false, &rec) < 0)
      continue;
    json_object *arr = load_domains(&rec);
    vk_record_close(&rec);
    if (!arr)
      return -1;
    json_object *e = find_entry(arr, name, NULL);
    if (e) {
      *entry = json_object_get(e);
      *dir = d;
      d = NULL;
      json_object_put(arr);
      return 0;
    }
    json_object_put(arr);
  }
  vk_error(VK_EXIT_NOT_FOUND, "no domain '%s' runs from a backup in %s (restore --instant "
           "records it)", name, repo_dir);
  return -1;
}

/* The disks (device='disk') of the XML of DOM: target and source file. */
static int
disk_sources(virDomainPtr dom, unsigned int flags, struct vk_restored **out, size_t *n)
{
  CLEANUP_DOMAIN_XML struct vk_domain_xml x = { NULL, NULL };
  if (vk_domain_xml_read(dom, flags, &x) < 0)
    return -1;
  CLEANUP_XPATHOBJ xmlXPathObjectPtr o =
    vk_xpath_nodes(x.ctx, NULL, "/domain/devices/disk[@device='disk' or not(@device)]");
  *n = vk_xpath_count(o);
  *out = vk_xcalloc(*n + 1, sizeof **out);
  for (size_t i = 0; i < *n; i++) {
    (*out)[i].target = vk_xpath_string(x.ctx, o->nodesetval->nodeTab[i], "target/@dev");
    (*out)[i].path = vk_xpath_string(x.ctx, o->nodesetval->nodeTab[i], "source/@file");
  }
  return 0;
}

/* Whether any disk of DOM's live XML (or its backing chain) still reads a
 * file under DIR or one of OVERLAYS: the offending file in *WHICH.
 */
static int
depends_on(virDomainPtr dom, const char *dir, json_object *overlays, char **which)
{
  CLEANUP_DOMAIN_XML struct vk_domain_xml x = { NULL, NULL };
  if (vk_domain_xml_read(dom, 0, &x) < 0)
    return -1;
  CLEANUP_XPATHOBJ xmlXPathObjectPtr o =
    vk_xpath_nodes(x.ctx, NULL, "/domain/devices/disk//source/@file");
  size_t len = strlen(dir);
  for (int i = 0; i < vk_xpath_count(o); i++) {
    CLEANUP_FREE char *f = (char *)xmlNodeGetContent(o->nodesetval->nodeTab[i]);
    bool bad = f && strncmp(f, dir, len) == 0 && f[len] == '/';
    for (size_t j = 0; f && !bad && j < json_object_array_length(overlays); j++)
      bad = strcmp(f, json_object_get_string(json_object_array_get_idx(overlays, j))) == 0;
    if (bad) {
      *which = vk_xstrdup(f);
      return 1;
    }
  }
  return 0;
}

/* The destination XML of a block copy onto the qcow2 file PATH. */
static char *
copy_dest_xml(const char *path)
{
  CLEANUP_XMLDOC xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
  xmlNodePtr disk = xmlNewNode(NULL, (const xmlChar *)"disk");
  xmlDocSetRootElement(doc, disk);
  xmlSetProp(disk, (const xmlChar *)"type", (const xmlChar *)"file");
  xmlNodePtr src = xmlNewChild(disk, NULL, (const xmlChar *)"source", NULL);
  xmlSetProp(src, (const xmlChar *)"file", (const xmlChar *)path);
  xmlNodePtr drv = xmlNewChild(disk, NULL, (const xmlChar *)"driver", NULL);
  xmlSetProp(drv, (const xmlChar *)"type", (const xmlChar *)"qcow2");
  return vk_xml_format(doc);
}

/* The file a block job of disk TARGET of DOM mirrors into (its live XML's
 * <mirror>), in *FILE (NULL: none): 0, or -1 after reporting.
 */
static int
mirror_of(virDomainPtr dom, const char *target, char **file)
{
  *file = NULL;
  CLEANUP_DOMAIN_XML struct vk_domain_xml x = { NULL, NULL };
  if (vk_domain_xml_read(dom, 0, &x) < 0)
    return -1;
  xmlNodePtr d = vk_domain_xml_disk(&x, target);
  if (d) {
    *file = vk_xpath_string(x.ctx, d, "mirror/source/@file");
    if (!*file)
      *file = vk_xpath_string(x.ctx, d, "mirror/@file");
  }
  return 0;
}

/* Clear what a killed restore --finish left on disk TARGET of domain NAME
 * (DOM, recorded in REPO_DIR): its block copy onto DEST (the file this
 * finish copies to, in the directory TOFD) is aborted and the file removed,
 * so that the copy starts again; 0 when no job runs or it was that one.
 * Any other block job is not ours: -1, reported with the command that
 * clears it.
 */
static int
clear_leftover_copy(virDomainPtr dom, const char *name, const char *repo_dir,
                    const char *target, int tofd, const char *dest)
{
  virDomainBlockJobInfo info;
  int r = virDomainGetBlockJobInfo(dom, target, &info, 0);
  if (r < 0) {
    vk_virt_error("disk %s: cannot read its block job", target);
    return -1;
  }
  if (r == 0)
    return 0;
  CLEANUP_FREE char *mirror = NULL;
  if (mirror_of(dom, target, &mirror) < 0)
    return -1;
  bool copy = info.type == VIR_DOMAIN_BLOCK_JOB_TYPE_COPY && mirror;
  if (copy && strcmp(mirror, dest) == 0) {
    if (virDomainBlockJobAbort(dom, target, 0) < 0) {
      vk_virt_error("disk %s: cannot abort the block copy onto %s left by an interrupted "
                    "restore --finish", target, dest);
      return -1;
    }
    if (unlinkat(tofd, strrchr(dest, '/') + 1, 0) < 0 && errno != ENOENT) {
      vk_error(VK_EXIT_FAILURE, "%s: %s", dest, strerror(errno));
      return -1;
    }
    vk_warn("disk %s: the block copy onto %s left by an interrupted restore --finish was "
            "aborted and its file removed: copying again", target, dest);
    return 0;
  }
  static const char *const kinds[] = { "", "pull", "copy", "commit", "active commit", "backup" };
  const char *kind = info.type > 0 && info.type < (int)(sizeof kinds / sizeof *kinds)
                     ? kinds[info.type] : "block";
  CLEANUP_FREE char *pm = mirror ? vk_printable(mirror) : NULL;
  const char *slash = mirror ? strrchr(mirror, '/') : NULL;
  if (copy && slash && strcmp(slash, strrchr(dest, '/')) == 0)
    /* The same file name elsewhere: a restore --finish with another --to. */
    vk_error(VK_EXIT_BUSY, "disk %s of domain '%s': a block copy onto %s runs, left by a "
             "restore --finish with another --to: finish it with 'vckpt restore --finish %s "
             "--to %.*s --repo %s', or abort it with 'virsh blockjob %s %s --abort'", target,
             name, pm, name, (int)(slash - mirror), pm, repo_dir, name, target);
  else
    vk_error(VK_EXIT_BUSY, "disk %s of domain '%s': a %s job%s%s runs, not one of restore "
             "--finish: let it end or abort it ('virsh blockjob %s %s --abort'), then run "
             "restore --finish again", target, name, kind, pm ? " onto " : "", pm ? pm : "",
             name, target);
  return -1;
}

/* Copy disk TARGET of DOM onto DEST (full, so nothing of the backup chain
 * is needed afterwards) and pivot to it.  A stop signal aborts the copy:
 * the domain stays on its overlay.
 */
static int
copy_and_pivot(virDomainPtr dom, const char *target, const char *dest)
{
  CLEANUP_FREE char *xml = copy_dest_xml(dest);
  /* libvirt 9.0 refuses a copy job that would outlive a persistent domain
   * ("domain is not transient"): the job is made transient.  libvirt 9.0
   * still updates the persistent definition at the pivot; the caller
   * checks it (vk_domain_move_disks) in case a libvirt does not.
   */
  if (virDomainBlockCopy(dom, target, xml, NULL, 0, VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB |
                         VIR_DOMAIN_BLOCK_COPY_REUSE_EXT) < 0) {
    vk_virt_error("disk %s: cannot start the block copy onto %s", target, dest);
    return -1;
  }
  vk_test_hook("finish-copying");
  for (;;) {
    if (vk_stop_signal) {
      virDomainBlockJobAbort(dom, target, 0);
      vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: disk %s: the copy was "
               "aborted, the domain still runs from the backup", (int)vk_stop_signal, target);
      return -1;
    }
    virDomainBlockJobInfo info;
    int r = virDomainGetBlockJobInfo(dom, target, &info, 0);
    if (r < 0) {
      vk_virt_error("disk %s: block copy", target);
      return -1;
    }
    if (r == 0) {
      vk_error(VK_EXIT_FAILURE, "disk %s: the block copy onto %s ended before the pivot",
               target, dest);
      return -1;
    }
    if (info.end > 0 && info.cur == info.end) {
      if (virDomainBlockJobAbort(dom, target, VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT) == 0)
        return 0;
      if (vk_virt_last_code() != VIR_ERR_BLOCK_COPY_ACTIVE &&
          vk_virt_last_code() != VIR_ERR_OPERATION_INVALID) {
        vk_virt_error("disk %s: cannot pivot onto %s", target, dest);
        virDomainBlockJobAbort(dom, target, 0);
        return -1;
      }
    }
    struct timespec ts = { 0, 100 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
}

/* Give the repository's files back to vckpt's user once the domain no
 * longer runs on them (DIR is REPO/DOMAIN, from the record).
 */
static void
give_back(const char *repo_dir, const char *dir)
{
  struct vk_repo *repo = NULL;
  if (vk_repo_open_shared(repo_dir, strrchr(dir, '/') + 1, &repo) < 0) {
    vk_warn("%s: the backup files QEMU's user was given stay so until the next backup",
            dir);
    return;
  }
  vk_repo_give_back(repo);
  vk_repo_close(repo);
}

/* vk_instant_finish under its catch of the stop signals. */
static int
finish_caught(virConnectPtr conn, const char *repo_dir, const char *name, const char *to,
              struct vk_restored **out, size_t *n)
{
  *out = NULL;
  *n = 0;
  CLEANUP_FREE char *absdir = NULL;
  struct vk_qemu_user qu;
  CLEANUP_CLOSE int tofd = vk_domain_dir_open(conn, to, "--to", &absdir, &qu);
  if (tofd < 0)
    return -1;
  CLEANUP_FREE char *dir = NULL;
  json_object *entry = NULL;
  if (find_record(repo_dir, name, &dir, &entry) < 0)
    return -1;
  json_object *overlays = NULL;
  json_object_object_get_ex(entry, "overlays", &overlays);
  if (!json_object_is_type(overlays, json_type_array))
    overlays = NULL;
  CLEANUP_DOMAIN virDomainPtr dom = vk_domain_lookup(conn, name);
  if (!dom) {
    json_object_put(entry);
    return -1;
  }
  if (!vk_domain_is_active(dom)) {
    vk_error(VK_EXIT_FAILURE, "domain '%s' is not running: start it, then finish", name);
    json_object_put(entry);
    return -1;
  }
  struct vk_restored *disks = NULL;
  size_t nd = 0;
  if (disk_sources(dom, 0, &disks, &nd) < 0) {
    json_object_put(entry);
    return -1;
  }
  /* The disks on an overlay of the record, and their free destinations. */
  struct vk_restored *res = vk_xcalloc(nd + 1, sizeof *res);
  size_t nres = 0;
  int rc = 0;
  for (size_t i = 0; i < nd && rc == 0; i++) {
    bool ours = false;
    for (size_t j = 0; overlays && disks[i].path && j < json_object_array_length(overlays); j++)
      ours |= strcmp(disks[i].path,
                     json_object_get_string(json_object_array_get_idx(overlays, j))) == 0;
    if (!ours)
      continue;
    CLEANUP_FREE char *fname = vk_xasprintf("%s-%s.qcow2", name, disks[i].target);
    res[nres].target = vk_xstrdup(disks[i].target);
    res[nres].path = vk_xasprintf("%s/%s", absdir, fname);
    nres++;
    if (clear_leftover_copy(dom, name, repo_dir, disks[i].target, tofd,
                            res[nres - 1].path) < 0) {
      rc = -1;
      break;
    }
    struct stat st;
    if (fstatat(tofd, fname, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT) {
      CLEANUP_FREE char *p = vk_printable(res[nres - 1].path);
      vk_error(VK_EXIT_FAILURE, "%s already exists: nothing was moved (a restore --finish "
               "killed before its copy started leaves it: if so, remove it with 'rm %s', or "
               "give another --to)", p, p);
      rc = -1;
    }
  }
  if (rc == 0)
    vk_test_hook("finish-copies");
  for (size_t i = 0; i < nres && rc == 0; i++) {
    if (vk_stop_signal) {
      vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d before disk %s was copied: the "
               "domain still runs from the backup%s", (int)vk_stop_signal, res[i].target,
               i > 0 ? " (the disks before it were moved)" : "");
      rc = -1;
      break;
    }
    /* The destination is made by vckpt (privately, then renamed into
     * place, mode 0600) and reused by the copy: libvirt never creates a
     * file of that name in --to, where a link could have been planted.
     */
    virDomainBlockInfo bi;
    if (virDomainGetBlockInfo(dom, res[i].target, &bi, 0) < 0) {
      vk_virt_error("disk %s: cannot read its size", res[i].target);
      rc = -1;
      break;
    }
    if (vk_overlay_create_in(tofd, absdir, strrchr(res[i].path, '/') + 1, NULL,
                             bi.capacity) < 0) {
      rc = -1;
      break;
    }
    vk_debug("disk %s: block copy onto %s", res[i].target, res[i].path);
    rc = copy_and_pivot(dom, res[i].target, res[i].path);
    if (rc < 0)
      unlinkat(tofd, strrchr(res[i].path, '/') + 1, 0);   /* ours: made above */
    /* libvirt 9.0 updates the persistent definition at the pivot; one
     * that does not gets it here.
     */
    struct vk_disk_move move = { .target = res[i].target, .to = res[i].path };
    if (rc == 0)
      rc = vk_domain_move_disks(dom, 1, &move);
  }
  CLEANUP_FREE char *which = NULL;
  if (rc == 0) {
    int d = depends_on(dom, dir, overlays, &which);
    if (d < 0)
      rc = -1;
    else if (d > 0) {
      CLEANUP_FREE char *p = vk_printable(which);
      vk_error(VK_EXIT_FAILURE, "domain '%s' still reads %s after the move", name, p);
      rc = -1;
    }
  }
  if (rc == 0) {
    /* Independent of the repository now: the overlays and the record go. */
    for (size_t j = 0; overlays && j < json_object_array_length(overlays); j++) {
      const char *ov = json_object_get_string(json_object_array_get_idx(overlays, j));
      if (ov && unlink(ov) < 0 && errno != ENOENT)
        vk_warn("cannot remove %s: %s", ov, strerror(errno));
    }
    rc = record_remove(NULL, dir, name);
  }
  if (rc == 0)
    give_back(repo_dir, dir);
  json_object_put(entry);
  vk_restored_free(disks, nd);
  if (rc < 0) {
    vk_restored_free(res, nres);
    return -1;
  }
  /* Every disk moved was the commit point: a signal since came too late. */
  if (vk_stop_signal)
    vk_warn("signal %d came too late to stop restore --finish: every disk was moved",
            (int)vk_stop_signal);
  *out = res;
  *n = nres;
  return 0;
}

int
vk_instant_finish(virConnectPtr conn, const char *repo_dir, const char *name, const char *to,
                  struct vk_restored **out, size_t *n)
{
  /* A stop signal aborts the copy running; the disks moved stay moved. */
  vk_stop_catch_begin();
  int r = finish_caught(conn, repo_dir, name, to, out, n);
  vk_stop_catch_end();
  return r;
}

int
vk_instant_live_backups(const struct vk_repo *r, char ***out)
{
  *out = NULL;
  struct vk_record rec;
  if (vk_repo_record_open(r, VK_INSTANT_FILE, false, &rec) < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", vk_repo_where(r), strerror(errno));
    return -1;
  }
  json_object *arr = load_domains(&rec);
  vk_record_close(&rec);
  if (!arr)
    return -1;
  size_t n = json_object_array_length(arr), k = 0;
  char **ids = vk_xcalloc(n + 1, sizeof *ids);
  for (size_t i = 0; i < n; i++) {
    json_object *d = json_object_array_get_idx(arr, i), *b = NULL;
    if (json_object_object_get_ex(d, "backup", &b) && json_object_is_type(b, json_type_string) &&
        vk_instant_entry_live(d))
      ids[k++] = vk_xstrdup(json_object_get_string(b));
  }
  json_object_put(arr);
  *out = ids;
  return 0;
}
