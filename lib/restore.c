/* vckpt - restore and verify. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "qcow2.h"
#include "repo.h"
#include "restore.h"
#include "util.h"
#include "virt.h"
#include "xml.h"

void
vk_restored_free(struct vk_restored *r, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    free(r[i].target);
    free(r[i].path);
  }
  free(r);
}

/* The backup to restore: the one that created checkpoint AT, or the latest. */
static const struct vk_backup *
pick(struct vk_repo *repo, const char *domain, const char *at)
{
  const struct vk_backup *b = at ? vk_repo_find_by_checkpoint(repo, at) : vk_repo_latest(repo);
  if (!b) {
    if (at)
      vk_error(VK_EXIT_NOT_FOUND, "no complete backup of '%s' ended at checkpoint '%s' "
               "(see 'vckpt list-backups')", domain, at);
    else
      vk_error(VK_EXIT_NOT_FOUND, "the repository has no complete backup of '%s'", domain);
  }
  return b;
}

/* Convert the chain of SRC into a standalone qcow2 at DST, which must not
 * exist: convert to a temporary name, then link(2), which never replaces.
 */
static int
convert_to(const char *src, const char *dst)
{
  CLEANUP_FREE char *dir = vk_xstrdup(dst);
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = '\0';
  CLEANUP_FREE char *tmp = vk_xasprintf("%s/.vckpt-restore-%d-%s", slash ? dir : ".",
                                        (int)getpid(), slash ? slash + 1 : dst);
  if (access(dst, F_OK) == 0) {
    vk_error(VK_EXIT_FAILURE, "%s already exists: restore never replaces a file", dst);
    return -1;
  }
  char *argv[] = { (char *)QEMU_IMG, "convert", "-q", "-f", "qcow2", "-O", "qcow2",
                   (char *)src, tmp, NULL };
  if (vk_run(argv) < 0) {
    unlink(tmp);
    return -1;
  }
  int fd = open(tmp, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fsync(fd) < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", tmp, strerror(errno));
    if (fd >= 0)
      close(fd);
    unlink(tmp);
    return -1;
  }
  close(fd);
  if (link(tmp, dst) < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", dst,
             errno == EEXIST ? "already exists: restore never replaces a file" : strerror(errno));
    unlink(tmp);
    return -1;
  }
  unlink(tmp);
  return 0;
}

/* Define a new domain from the backed-up XML on the restored images. */
static int
define_domain(virConnectPtr conn, struct vk_repo *repo, const struct vk_backup *b,
              const char *name, const struct vk_restored *r, size_t n)
{
  virDomainPtr clash = virDomainLookupByName(conn, name);
  if (clash) {
    virDomainFree(clash);
    vk_error(VK_EXIT_FAILURE, "a domain named '%s' already exists", name);
    return -1;
  }
  CLEANUP_FREE char *path = vk_repo_path(repo, b->domain_xml);
  CLEANUP_FREE char *xml = NULL;
  if (vk_read_file(path, 64 << 20, &xml) < 0)
    return -1;
  CLEANUP_XMLDOC xmlDocPtr doc = vk_xml_parse(xml, path);
  if (!doc)
    return -1;
  CLEANUP_XPATHCTX xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  /* New name, no UUID (libvirt makes one), no MAC addresses, no id. */
  CLEANUP_XPATHOBJ xmlXPathObjectPtr drop =
    vk_xpath_nodes(ctx, NULL, "/domain/uuid | /domain/devices/interface/mac | /domain/@id"
                              " | /domain/devices/disk/backingStore");
  for (int i = 0; i < vk_xpath_count(drop); i++) {
    xmlNodePtr node = drop->nodesetval->nodeTab[i];
    drop->nodesetval->nodeTab[i] = NULL;
    xmlUnlinkNode(node);
    xmlFreeNode(node);
  }
  CLEANUP_XPATHOBJ xmlXPathObjectPtr nm = vk_xpath_nodes(ctx, NULL, "/domain/name");
  if (vk_xpath_count(nm) != 1) {
    vk_error(VK_EXIT_FAILURE, "%s: no <name> in the domain XML", path);
    return -1;
  }
  xmlNodeSetContent(nm->nodesetval->nodeTab[0], NULL);
  xmlNodeAddContent(nm->nodesetval->nodeTab[0], (const xmlChar *)name);
  /* Disks: restored ones point at their new image; the others are dropped,
   * so the new domain never shares an image with the old one.
   */
  CLEANUP_XPATHOBJ xmlXPathObjectPtr disks =
    vk_xpath_nodes(ctx, NULL, "/domain/devices/disk[@device='disk' or not(@device)]");
  for (int i = 0; i < vk_xpath_count(disks); i++) {
    xmlNodePtr d = disks->nodesetval->nodeTab[i];
    CLEANUP_FREE char *t = vk_xpath_string(ctx, d, "target/@dev");
    const struct vk_restored *rd = NULL;
    for (size_t j = 0; t && j < n && !rd; j++)
      if (strcmp(r[j].target, t) == 0)
        rd = &r[j];
    disks->nodesetval->nodeTab[i] = NULL;
    if (!rd) {
      xmlUnlinkNode(d);
      xmlFreeNode(d);
      continue;
    }
    xmlSetProp(d, (const xmlChar *)"type", (const xmlChar *)"file");
    for (xmlNodePtr c = d->children; c; c = c->next) {
      if (c->type != XML_ELEMENT_NODE)
        continue;
      if (xmlStrcmp(c->name, (const xmlChar *)"source") == 0) {
        xmlUnsetProp(c, (const xmlChar *)"dev");
        xmlSetProp(c, (const xmlChar *)"file", (const xmlChar *)rd->path);
      } else if (xmlStrcmp(c->name, (const xmlChar *)"driver") == 0)
        xmlSetProp(c, (const xmlChar *)"type", (const xmlChar *)"qcow2");
    }
  }
  CLEANUP_FREE char *out = vk_xml_format(doc);
  virDomainPtr dom = virDomainDefineXML(conn, out);
  if (!dom) {
    vk_virt_error("cannot define domain '%s'", name);
    return -1;
  }
  virDomainFree(dom);
  return 0;
}

/* Convert each disk of B (or of REQ->disks) into REQ->to, then define. */
static int
restore_from(virConnectPtr conn, struct vk_repo *repo, const struct vk_backup *b,
             const struct vk_restore_request *req, struct vk_restored *out, size_t *n)
{
  char absdir[PATH_MAX];
  if (!realpath(req->to, absdir)) {
    vk_error(VK_EXIT_FAILURE, "--to %s: %s", req->to, strerror(errno));
    return -1;
  }
  for (size_t j = 0; j < b->nr_disks; j++) {
    const struct vk_backup_disk *d = &b->disks[j];
    if (req->disks && !vk_strv_contains(req->disks, d->target))
      continue;
    CLEANUP_FREE char *src = vk_repo_path(repo, d->file);
    out[*n] = (struct vk_restored) {
      .target = vk_xstrdup(d->target),
      .path = req->define ? vk_xasprintf("%s/%s-%s.qcow2", absdir, req->define, d->target)
                          : vk_xasprintf("%s/%s.qcow2", absdir, d->target),
    };
    (*n)++;
    if (convert_to(src, out[*n - 1].path) < 0) {
      (*n)--;
      return -1;
    }
  }
  if (req->define && define_domain(conn, repo, b, req->define, out, *n) < 0)
    return -1;
  return 0;
}

int
vk_restore(virConnectPtr conn, const struct vk_restore_request *req, char **backup_id,
           struct vk_restored **out, size_t *n)
{
  struct vk_repo *repo = NULL;
  struct stat st;
  *out = NULL;
  *n = 0;
  if (stat(req->to, &st) < 0) {
    vk_error(errno == ENOENT ? VK_EXIT_NOT_FOUND : VK_EXIT_FAILURE,
             "--to %s: %s", req->to, strerror(errno));
    return -1;
  }
  if (!S_ISDIR(st.st_mode)) {
    vk_error(VK_EXIT_USAGE, "--to %s: not a directory", req->to);
    return -1;
  }
  if (vk_repo_open(req->repo_dir, req->domain, false, false, &repo) < 0)
    return -1;
  const struct vk_backup *b = pick(repo, req->domain, req->at);
  for (size_t i = 0; b && req->disks && req->disks[i]; i++) {
    bool found = false;
    for (size_t j = 0; j < b->nr_disks; j++)
      found |= strcmp(b->disks[j].target, req->disks[i]) == 0;
    if (!found) {
      vk_error(VK_EXIT_NOT_FOUND, "backup %s has no disk '%s'", b->id, req->disks[i]);
      b = NULL;
    }
  }
  int r = -1;
  if (b) {
    *out = vk_xcalloc(b->nr_disks, sizeof **out);
    r = restore_from(conn, repo, b, req, *out, n);
    if (r == 0)
      *backup_id = vk_xstrdup(b->id);
    else {
      /* Nothing half-done: the images restored so far are removed. */
      for (size_t i = 0; i < *n; i++)
        unlink((*out)[i].path);
      vk_restored_free(*out, b->nr_disks);   /* unused entries are zeroed */
      *out = NULL;
      *n = 0;
    }
  }
  vk_repo_close(repo);
  return r;
}

/* Verify one disk file of backup B. */
static void
verify_disk(struct vk_repo *repo, const struct vk_backup *b, const struct vk_backup_disk *d,
            struct vk_report *rep)
{
  CLEANUP_FREE char *path = vk_repo_path(repo, d->file);
  if (access(path, R_OK) != 0) {
    vk_report_add(rep, "file-missing", VK_SEV_ERROR, d->target, path, NULL, b->checkpoint,
                  vk_xasprintf("backup %s: %s", b->id, strerror(errno)),
                  vk_xstrdup("take a full backup to start a new chain (vckpt backup --full)"));
    return;
  }
  char hex[65];
  if (vk_sha256_file(path, hex) < 0)
    return;
  if (!d->sha256 || strcmp(hex, d->sha256) != 0)
    vk_report_add(rep, "checksum-mismatch", VK_SEV_ERROR, d->target, path, NULL, b->checkpoint,
                  vk_xasprintf("backup %s: SHA-256 %s, recorded %s: the file changed since "
                               "the backup", b->id, hex, d->sha256 ? d->sha256 : "none"),
                  vk_xstrdup("take a full backup to start a new chain; keep the damaged file "
                             "for inspection"));
  struct vk_image img;
  char *err = NULL;
  if (vk_image_open(path, "qcow2", &img, &err) < 0) {
    vk_report_add(rep, "image-unreadable", VK_SEV_ERROR, d->target, path, NULL, b->checkpoint,
                  vk_xasprintf("backup %s: %s", b->id, err ? err : "out of memory"),
                  vk_xstrdup("take a full backup to start a new chain"));
    free(err);
    return;
  }
  const char *want = d->backing ? (strrchr(d->backing, '/') ? strrchr(d->backing, '/') + 1
                                                            : d->backing) : NULL;
  if ((want == NULL) != (img.backing_file == NULL) ||
      (want && strcmp(want, img.backing_file) != 0))
    vk_report_add(rep, "chain-broken", VK_SEV_ERROR, d->target, path, NULL, b->checkpoint,
                  vk_xasprintf("backup %s: backing file is '%s', the manifest says '%s'", b->id,
                               img.backing_file ? img.backing_file : "none",
                               want ? want : "none"),
                  vk_xstrdup("take a full backup to start a new chain"));
  if (d->virtual_size && img.virtual_size != d->virtual_size)
    vk_report_add(rep, "size-mismatch", VK_SEV_ERROR, d->target, path, NULL, b->checkpoint,
                  vk_xasprintf("backup %s: virtual size %llu, recorded %llu", b->id,
                               (unsigned long long)img.virtual_size,
                               (unsigned long long)d->virtual_size),
                  vk_xstrdup("take a full backup to start a new chain"));
  vk_image_clear(&img);
  char *argv[] = { (char *)QEMU_IMG, "check", "-q", "-f", "qcow2", path, NULL };
  if (vk_run(argv) < 0) {
    /* vk_run reported qemu-img's message; make it a finding as well. */
    vk_report_add(rep, "qemu-img-check", VK_SEV_ERROR, d->target, path, NULL, b->checkpoint,
                  vk_xasprintf("backup %s: qemu-img check found errors", b->id),
                  vk_xstrdup("take a full backup to start a new chain"));
  }
}

int
vk_verify(const char *repo_dir, const char *domain, struct vk_report *rep,
          size_t *backups, size_t *files)
{
  struct vk_repo *repo = NULL;
  memset(rep, 0, sizeof *rep);
  rep->domain = vk_xstrdup(domain);
  *backups = *files = 0;
  if (vk_repo_open(repo_dir, domain, false, true, &repo) < 0)
    return -1;
  const struct vk_manifest *m = vk_repo_manifest(repo);
  for (size_t i = 0; i < m->nr_backups; i++) {
    const struct vk_backup *b = &m->backups[i];
    (*backups)++;
    for (size_t j = 0; j < b->nr_disks; j++, (*files)++)
      verify_disk(repo, b, &b->disks[j], rep);
    const char *meta[] = { b->domain_xml, b->checkpoint_xml };
    for (size_t k = 0; k < 2; k++) {
      CLEANUP_FREE char *p = meta[k] ? vk_repo_path(repo, meta[k]) : NULL;
      if (p && access(p, R_OK) != 0)
        vk_report_add(rep, "file-missing", VK_SEV_ERROR, NULL, p, NULL, b->checkpoint,
                      vk_xasprintf("backup %s: %s", b->id, strerror(errno)),
                      vk_xstrdup(k ? "the checkpoint cannot be redefined from this backup"
                                   : "a restore cannot --define a domain from this backup"));
    }
  }
  vk_repo_close(repo);
  return 0;
}
