/* vckpt - overlay and commit that carry the dirty bitmaps (imageop.h). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "backup.h"
#include "fileio.h"
#include "hostlock.h"
#include "imageop.h"
#include "output.h"
#include "process.h"
#include "qcow2.h"
#include "testhook.h"
#include "util.h"
#include "virt.h"
#include "xml.h"

#define STATE_DIR_DEFAULT "/var/lib/vckpt"
#define JOURNAL_MAX (1024 * 1024)

const char *
vk_state_dir(void)
{
  const char *e = getenv("VCKPT_STATE_DIR");
  return e && *e ? e : STATE_DIR_DEFAULT;
}

/* ---- small helpers ---- */

static void
strv_push(char ***v, char *s)
{
  size_t n = *v ? vk_strv_len(*v) : 0;
  *v = vk_xrealloc(*v, (n + 2) * sizeof **v);
  (*v)[n] = s;
  (*v)[n + 1] = NULL;
}

/* The directory part of PATH ("." when none). */
static char *
dir_of(const char *path)
{
  const char *s = strrchr(path, '/');
  if (!s)
    return vk_xstrdup(".");
  if (s == path)
    return vk_xstrdup("/");
  return vk_xasprintf("%.*s", (int)(s - path), path);
}

static const char *
base_of(const char *path)
{
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

/* PATH made absolute, its directory resolved, its last component not. */
static char *
abs_path(const char *path)
{
  const char *b = base_of(path);
  if (!*b || strcmp(b, ".") == 0 || strcmp(b, "..") == 0) {
    CLEANUP_FREE char *p = vk_printable(path);
    vk_error(VK_EXIT_USAGE, "'%s' is not a file name", p);
    return NULL;
  }
  CLEANUP_FREE char *dir = dir_of(path);
  CLEANUP_FREE char *real = realpath(dir, NULL);
  if (!real) {
    CLEANUP_FREE char *p = vk_printable(dir);
    vk_error(errno == ENOENT ? VK_EXIT_NOT_FOUND : VK_EXIT_FAILURE, "%s: %s", p, strerror(errno));
    return NULL;
  }
  return vk_xasprintf("%s/%s", strcmp(real, "/") == 0 ? "" : real, b);
}

/* The backing name to record in the image at PATH for BACKING (both
 * absolute): relative when both are in one directory, as qemu-img -b.
 */
static char *
backing_name(const char *path, const char *backing)
{
  CLEANUP_FREE char *d1 = dir_of(path);
  CLEANUP_FREE char *d2 = dir_of(backing);
  return vk_xstrdup(strcmp(d1, d2) == 0 ? base_of(backing) : backing);
}

/* Whether A and B name the same file. */
static bool
same_file(const char *a, const char *b)
{
  struct stat sa, sb;
  return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

/* Whether A and B name the same image: the same string, or (a definition
 * naming it through a linked directory, vckpt by its resolved path) the
 * same file.
 */
static bool
same_image(const char *a, const char *b)
{
  return a && b && (strcmp(a, b) == 0 || same_file(a, b));
}

/* Refuse unless PATH does not exist. */
static int
check_absent(const char *path)
{
  struct stat st;
  CLEANUP_FREE char *p = vk_printable(path);
  if (lstat(path, &st) == 0) {
    vk_error(VK_EXIT_FAILURE, "%s already exists: not replacing it", p);
    return -1;
  }
  if (errno != ENOENT) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", p, strerror(errno));
    return -1;
  }
  return 0;
}

/* Read the qcow2 image PATH that vckpt stacks on or changes: a regular
 * file (a symbolic link only when FOLLOW), qcow2, not marked corrupt.
 */
static int
open_qcow2(const char *path, bool follow, struct vk_image *img)
{
  struct stat st;
  CLEANUP_FREE char *p = vk_printable(path);
  int r = follow ? stat(path, &st) : lstat(path, &st);
  if (r < 0) {
    vk_error(errno == ENOENT ? VK_EXIT_NOT_FOUND : VK_EXIT_FAILURE, "%s: %s", p, strerror(errno));
    return -1;
  }
  if (S_ISLNK(st.st_mode)) {
    vk_error(VK_EXIT_FAILURE, "%s is a symbolic link: name the image itself", p);
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    vk_error(VK_EXIT_FAILURE, "%s is %s, not a regular file", p, vk_file_type_name(st.st_mode));
    return -1;
  }
  char *err = NULL;
  if (vk_image_open(path, "qcow2", img, &err) < 0) {
    CLEANUP_FREE char *m = vk_printable(err ? err : "out of memory");
    vk_error(VK_EXIT_FAILURE, "%s", m);
    free(err);
    return -1;
  }
  if (img->corrupt) {
    vk_error(VK_EXIT_FAILURE, "%s is marked corrupt: repair it first (qemu-img check -r all)", p);
    vk_image_clear(img);
    return -1;
  }
  return 0;
}

/* Refuse an image a running QEMU (or anything else) holds open. */
static int
check_not_held(const char *path)
{
  if (!vk_image_held(path))
    return 0;
  CLEANUP_FREE char *p = vk_printable(path);
  vk_error(VK_EXIT_BUSY, "%s is open in a running QEMU (or another program): image surgery "
           "under it would corrupt it; for a running domain take a live external snapshot "
           "(virsh snapshot-create-as DOMAIN --disk-only), which carries the bitmaps too", p);
  return -1;
}

/* An unpredictable temporary name next to PATH. */
static char *
temp_name(const char *path)
{
  unsigned char rnd[8];
  if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
    for (size_t i = 0; i < sizeof rnd; i++)   /* no entropy yet: still not predictable enough? */
      rnd[i] = (unsigned char)(random() ^ getpid() ^ time(NULL));
  CLEANUP_FREE char *dir = dir_of(path);
  return vk_xasprintf("%s/.vckpt-%02x%02x%02x%02x%02x%02x%02x%02x.%s", dir, rnd[0], rnd[1],
                      rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], base_of(path));
}

static int
sync_dir_of(const char *path)
{
  CLEANUP_FREE char *dir = dir_of(path);
  CLEANUP_CLOSE int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || fsync(fd) < 0) {
    CLEANUP_FREE char *p = vk_printable(dir);
    vk_error(VK_EXIT_FAILURE, "%s: fsync: %s", p, strerror(errno));
    return -1;
  }
  return 0;
}

/* ---- overlay ---- */

/* Why bitmap B of a backing image is not carried into an overlay, or NULL. */
static const char *
skip_reason(const struct vk_image *img, const struct vk_bitmap *b)
{
  if (b->problem)
    return "invalid";
  if (b->in_use)
    return "in-use (not saved cleanly)";
  if (!b->enabled)
    return "disabled (not recording)";
  (void)img;
  return NULL;
}

/* Refuse (status 2) the image PATH when its directory, or one above it,
 * is one another user may change: qemu-img runs as root on names there.
 */
static int
check_dir_of(const char *path, const char *what)
{
  CLEANUP_FREE char *dir = vk_xstrdup(path);
  char *slash = strrchr(dir, '/');
  if (slash)
    slash[slash == dir ? 1 : 0] = '\0';
  CLEANUP_CLOSE int fd = vk_dir_open_trusted_base(slash ? dir : ".", what, NULL);
  return fd < 0 ? -1 : 0;
}

/* Create the overlay PATH on BASE (absolute paths) through the temporary
 * file TMP in PATH's directory, carrying every recording and consistent
 * bitmap of BASE with its granularity, then rename TMP to PATH (never over
 * an existing file).  PATH exists only once it is complete.
 */
static int
make_overlay(const char *base, const char *path, const char *tmp, bool follow,
             struct vk_imageop_disk *out)
{
  struct vk_image img = { 0 };
  if (check_dir_of(path, "overlay directory") < 0 || open_qcow2(base, follow, &img) < 0)
    return -1;
  int r = -1;
  CLEANUP_FREE char *bname = backing_name(path, base);
  CLEANUP_FREE char *ptmp = vk_printable(tmp);
  CLEANUP_FREE char *ppath = vk_printable(path);
  if (check_not_held(base) < 0)
    goto out;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: cannot create: %s", ptmp, strerror(errno));
    goto out;
  }
  close(fd);
  char *cargv[] = { (char *)QEMU_IMG, "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", bname,
                    (char *)tmp, NULL };
  if (vk_run(cargv) < 0)
    goto fail;
  for (size_t i = 0; i < img.nr_bitmaps; i++) {
    const struct vk_bitmap *b = &img.bitmaps[i];
    const char *why = skip_reason(&img, b);
    if (why) {
      CLEANUP_FREE char *name = vk_printable(b->name);
      strv_push(&out->skipped, vk_xasprintf("%s: %s", name, why));
      continue;
    }
    char g[32];
    snprintf(g, sizeof g, "%llu", 1ULL << b->granularity_bits);
    /* "--": a bitmap name from the image may start with '-'. */
    char *bargv[] = { (char *)QEMU_IMG, "bitmap", "--add", "-g", g, "-f", "qcow2", "--",
                      (char *)tmp, b->name, NULL };
    if (vk_run(bargv) < 0)
      goto fail;
    strv_push(&out->copied, vk_xstrdup(b->name));
  }
  if (vk_stop_signal) {
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: %s was not made",
             (int)vk_stop_signal, ppath);
    goto fail;
  }
  if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
    if (errno == EEXIST)
      vk_error(VK_EXIT_FAILURE, "%s already exists: not replacing it", ppath);
    else
      vk_error(VK_EXIT_FAILURE, "cannot rename %s to %s: %s", ptmp, ppath, strerror(errno));
    goto fail;
  }
  if (sync_dir_of(path) < 0)
    goto out;
  r = 0;
  goto out;
 fail:
  unlink(tmp);
 out:
  vk_image_clear(&img);
  return r;
}

/* vk_overlay_image under its catch of the stop signals. */
static int
overlay_image_caught(const char *base, const char *new_image, struct vk_imageop_result *res)
{
  memset(res, 0, sizeof *res);
  res->kind = "overlay";
  CLEANUP_FREE char *abase = abs_path(base);
  if (!abase)
    return -1;
  CLEANUP_FREE char *anew = abs_path(new_image);
  if (!anew || check_dir_of(anew, "overlay directory") < 0 || check_absent(anew) < 0)
    return -1;
  CLEANUP_FREE char *tmp = temp_name(anew);
  res->d = vk_xcalloc(1, sizeof *res->d);
  res->n = 1;
  res->d[0].base = vk_xstrdup(abase);
  res->d[0].image = vk_xstrdup(anew);
  return make_overlay(abase, anew, tmp, false, &res->d[0]);
}

/* Overlay an image: a stop signal rolls back or comes too late (process.h). */
int
vk_overlay_image(const char *base, const char *new_image, struct vk_imageop_result *res)
{
  vk_stop_catch_begin();
  int r = overlay_image_caught(base, new_image, res);
  vk_stop_catch_end();
  return r;
}

/* ---- the journal of a domain ---- */

struct jdisk {
  char *target;
  char *base;    /* overlay: the image under the overlay; commit: the base */
  char *image;   /* overlay: the overlay; commit: the top committed */
  char *tmp;     /* overlay: its temporary name */
  char *active;  /* commit: the disk's source before */
  char *above;   /* commit: the image above the top, or NULL */
};

struct journal {
  char *kind;    /* "overlay", "commit" */
  char *domain, *uuid;
  size_t n;
  struct jdisk *d;
};

static void
journal_clear(struct journal *j)
{
  for (size_t i = 0; i < j->n; i++) {
    free(j->d[i].target);
    free(j->d[i].base);
    free(j->d[i].image);
    free(j->d[i].tmp);
    free(j->d[i].active);
    free(j->d[i].above);
  }
  free(j->d);
  free(j->kind);
  free(j->domain);
  free(j->uuid);
  memset(j, 0, sizeof *j);
}

static int
domain_uuid(virDomainPtr dom, char *uuid)
{
  if (virDomainGetUUIDString(dom, uuid) < 0) {
    vk_virt_error("cannot read the UUID of domain '%s'", virDomainGetName(dom));
    return -1;
  }
  return 0;
}

/* Open the state directory (created 0700 with CREATE): a descriptor, -2 if
 * it does not exist and !CREATE, -1 after reporting.  A directory others can
 * write to is refused: a journal planted there would make vckpt run qemu-img
 * on files of someone else's choosing.
 */
static int
state_dir_open(bool create, bool quiet)
{
  const char *dir = vk_state_dir();
  if (create)       /* reached through directories only root can change */
    return vk_dir_open_private(dir, "state directory", 0700);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT && !create)
      return -2;
    vk_error(VK_EXIT_FAILURE, "%s: %s", dir, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
    if (quiet) {
      close(fd);
      return -2;
    }
    vk_error(VK_EXIT_FAILURE, "%s: not a private directory (owner %ld, mode %04o): refusing "
             "to keep a journal there", dir, (long)st.st_uid, (unsigned)(st.st_mode & 07777));
    close(fd);
    return -1;
  }
  return fd;
}

static char *
journal_file(const char *uuid)
{
  return vk_xasprintf("imageop-%s.xml", uuid);
}

static void
set_attr(xmlNodePtr n, const char *name, const char *value)
{
  if (value)
    xmlNewProp(n, (const xmlChar *)name, (const xmlChar *)value);
}

static int
journal_write(const struct journal *j)
{
  CLEANUP_CLOSE int dfd = state_dir_open(true, false);
  if (dfd < 0)
    return -1;
  CLEANUP_XMLDOC xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
  xmlNodePtr root = xmlNewNode(NULL, (const xmlChar *)"imageop");
  xmlDocSetRootElement(doc, root);
  set_attr(root, "kind", j->kind);
  set_attr(root, "domain", j->domain);
  set_attr(root, "uuid", j->uuid);
  for (size_t i = 0; i < j->n; i++) {
    xmlNodePtr d = xmlNewChild(root, NULL, (const xmlChar *)"disk", NULL);
    set_attr(d, "target", j->d[i].target);
    set_attr(d, "base", j->d[i].base);
    set_attr(d, "image", j->d[i].image);
    set_attr(d, "tmp", j->d[i].tmp);
    set_attr(d, "active", j->d[i].active);
    set_attr(d, "above", j->d[i].above);
  }
  CLEANUP_FREE char *xml = vk_xml_format(doc);
  CLEANUP_FREE char *name = journal_file(j->uuid);
  CLEANUP_FREE char *path = vk_xasprintf("%s/%s", vk_state_dir(), name);
  return vk_write_atomic(dfd, name, path, xml, false);
}

/* Read the journal of domain UUID: 1, 0 if there is none, -1 after
 * reporting.  QUIET: a state directory others can write to holds none.
 */
static int
journal_read(const char *uuid, struct journal *j, bool quiet)
{
  memset(j, 0, sizeof *j);
  CLEANUP_CLOSE int dfd = state_dir_open(false, quiet);
  if (dfd < 0) {
    int none = dfd == -2;
    dfd = -1;
    return none ? 0 : -1;
  }
  CLEANUP_FREE char *name = journal_file(uuid);
  CLEANUP_FREE char *path = vk_xasprintf("%s/%s", vk_state_dir(), name);
  CLEANUP_FREE char *text = NULL;
  if (vk_read_file_at(dfd, name, path, JOURNAL_MAX, VK_READ_NOFOLLOW | VK_READ_MISSING_OK,
                      &text) < 0)
    return -1;
  if (!text)
    return 0;
  CLEANUP_XMLDOC xmlDocPtr doc = vk_xml_parse(text, path);
  if (!doc)
    return -1;
  CLEANUP_XPATHCTX xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  j->kind = vk_xpath_string(ctx, NULL, "/imageop/@kind");
  j->domain = vk_xpath_string(ctx, NULL, "/imageop/@domain");
  j->uuid = vk_xpath_string(ctx, NULL, "/imageop/@uuid");
  CLEANUP_XPATHOBJ xmlXPathObjectPtr disks = vk_xpath_nodes(ctx, NULL, "/imageop/disk");
  int n = vk_xpath_count(disks);
  j->d = vk_xcalloc(n ? n : 1, sizeof *j->d);
  for (int i = 0; i < n; i++) {
    xmlNodePtr node = disks->nodesetval->nodeTab[i];
    struct jdisk *d = &j->d[j->n++];
    d->target = vk_xpath_string(ctx, node, "@target");
    d->base = vk_xpath_string(ctx, node, "@base");
    d->image = vk_xpath_string(ctx, node, "@image");
    d->tmp = vk_xpath_string(ctx, node, "@tmp");
    d->active = vk_xpath_string(ctx, node, "@active");
    d->above = vk_xpath_string(ctx, node, "@above");
  }
  bool ok = j->kind && j->uuid && strcmp(j->uuid, uuid) == 0 && j->n > 0 &&
            (strcmp(j->kind, "overlay") == 0 || strcmp(j->kind, "commit") == 0);
  for (size_t i = 0; ok && i < j->n; i++) {
    const struct jdisk *d = &j->d[i];
    ok = d->target && d->base && d->image && d->base[0] == '/' && d->image[0] == '/' &&
         (strcmp(j->kind, "overlay") == 0 ? d->tmp && d->tmp[0] == '/'
                                          : d->active && d->active[0] == '/' &&
                                            (!d->above || d->above[0] == '/'));
  }
  if (!ok) {
    vk_error(VK_EXIT_FAILURE, "%s: not a journal of an image operation on this domain: "
             "look at it and remove it by hand", path);
    journal_clear(j);
    return -1;
  }
  return 1;
}

static int
journal_remove(const char *uuid)
{
  CLEANUP_CLOSE int dfd = state_dir_open(false, false);
  if (dfd < 0) {
    int none = dfd == -2;
    dfd = -1;
    return none ? 0 : -1;
  }
  CLEANUP_FREE char *name = journal_file(uuid);
  if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT) {
    vk_error(VK_EXIT_FAILURE, "%s/%s: %s", vk_state_dir(), name, strerror(errno));
    return -1;
  }
  if (fsync(dfd) < 0)
    vk_warn("%s: fsync: %s", vk_state_dir(), strerror(errno));
  return 0;
}

/* ---- the domain definition ---- */

/* In the persistent definition, make disk TARGET[i] use TO[i] instead of
 * FROM[i] (already TO: left alone; FROM == TO: only a stale <backingStore>
 * goes), dropping its <backingStore>, and define it.  Anything else in the
 * definition stays as it was (read with its secrets, so none is lost).
 */
static int
define_sources(virDomainPtr dom, size_t n, char *const *targets, char *const *from,
               char *const *to)
{
  const char *domname = virDomainGetName(dom);
  /* Started meanwhile (by someone else): it runs on the old images, and a
   * definition naming the new ones would lose its writes at the next boot.
   */
  if (vk_domain_is_active(dom)) {
    vk_error(VK_EXIT_BUSY, "domain '%s' was started meanwhile, on its old images: the "
             "definition is left as it is; shut it down and run the command again to finish",
             domname);
    return -1;
  }
  CLEANUP_FREE char *xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE |
                                                    VIR_DOMAIN_XML_SECURE);
  if (!xml) {
    vk_virt_error("cannot read the definition of domain '%s'", domname);
    return -1;
  }
  CLEANUP_XMLDOC xmlDocPtr doc = vk_xml_parse(xml, "domain XML");
  if (!doc)
    return -1;
  CLEANUP_XPATHCTX xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  CLEANUP_XPATHOBJ xmlXPathObjectPtr disks =
    vk_xpath_nodes(ctx, NULL, "/domain/devices/disk[target/@dev]");
  bool changed = false;
  for (size_t i = 0; i < n; i++) {
    xmlNodePtr node = NULL;
    for (int k = 0; k < vk_xpath_count(disks) && !node; k++) {
      CLEANUP_FREE char *t = vk_xpath_string(ctx, disks->nodesetval->nodeTab[k], "target/@dev");
      if (t && strcmp(t, targets[i]) == 0)
        node = disks->nodesetval->nodeTab[k];
    }
    xmlNodePtr src = NULL;
    for (xmlNodePtr c = node ? node->children : NULL; c && !src; c = c->next)
      if (c->type == XML_ELEMENT_NODE && xmlStrcmp(c->name, (const xmlChar *)"source") == 0)
        src = c;
    CLEANUP_FREE char *cur = src ? (char *)xmlGetProp(src, (const xmlChar *)"file") : NULL;
    if (!cur) {
      vk_error(VK_EXIT_NOT_FOUND, "domain '%s' has no file disk '%s' any more", domname,
               targets[i]);
      return -1;
    }
    /* The definition may name the image through another path (a linked
     * directory) than the resolved one vckpt works with: the same file is
     * the same image.
     */
    if (!same_image(cur, to[i])) {
      if (!same_image(cur, from[i])) {
        CLEANUP_FREE char *pc = vk_printable(cur);
        CLEANUP_FREE char *pf = vk_printable(from[i]);
        vk_error(VK_EXIT_FAILURE, "disk %s of domain '%s' uses %s, not %s: its definition "
                 "changed meanwhile; not touching it", targets[i], domname, pc, pf);
        return -1;
      }
      xmlSetProp(src, (const xmlChar *)"file", (const xmlChar *)to[i]);
      changed = true;
    }
    for (xmlNodePtr c = node->children, next; c; c = next) {
      next = c->next;
      if (c->type == XML_ELEMENT_NODE && xmlStrcmp(c->name, (const xmlChar *)"backingStore") == 0) {
        xmlUnlinkNode(c);
        xmlFreeNode(c);
        changed = true;
      }
    }
  }
  if (!changed)
    return 0;
  CLEANUP_FREE char *out = vk_xml_format(doc);
  virDomainPtr d = virDomainDefineXML(virDomainGetConnect(dom), out);
  if (!d) {
    vk_virt_error("cannot define domain '%s' with its new disk images", domname);
    return -1;
  }
  virDomainFree(d);
  return 0;
}

/* ---- commit ---- */

/* The index in CHAIN of the image PATH names, or -1. */
static long
chain_index(const struct vk_chain *ch, const char *path, size_t from)
{
  for (size_t k = from; k < ch->nr_images; k++)
    if (same_file(ch->images[k].filename, path))
      return (long)k;
  return -1;
}

/* Refuse a commit of CH's images [0, B) into CH->images[B] that would make
 * a bitmap wrong: an inconsistent or invalid one anywhere in [0, B], or a
 * recording one missing from an image above the lowest that has it (after
 * the commit, that image's writes would be in the base but not in the
 * bitmap).  Extra dirty bits are safe; missing ones lose data.
 */
static int
check_commit_bitmaps(const struct vk_chain *ch, size_t b)
{
  for (size_t k = 0; k <= b; k++) {
    const struct vk_image *img = &ch->images[k];
    for (size_t i = 0; i < img->nr_bitmaps; i++) {
      const struct vk_bitmap *bm = &img->bitmaps[i];
      CLEANUP_FREE char *name = vk_printable(bm->name);
      CLEANUP_FREE char *fn = vk_printable(img->filename);
      if (bm->problem || bm->in_use) {
        vk_error(VK_EXIT_PREFLIGHT, "bitmap '%s' of %s is %s: merging it would spread wrong "
                 "data; remove it first (qemu-img bitmap --remove %s %s) and take a full "
                 "backup afterwards", name, fn, bm->problem ? "invalid" : "inconsistent (in-use)",
                 fn, name);
        return -1;
      }
      if (!bm->enabled)
        continue;
      /* Is this the lowest image in [0, b] that has it? */
      bool lower = false;
      for (size_t l = k + 1; l <= b && !lower; l++)
        lower = vk_image_find_bitmap(&ch->images[l], bm->name) != NULL;
      if (lower)
        continue;
      for (size_t u = 0; u < k; u++)
        if (!vk_image_find_bitmap(&ch->images[u], bm->name)) {
          CLEANUP_FREE char *un = vk_printable(ch->images[u].filename);
          vk_error(VK_EXIT_PREFLIGHT, "bitmap '%s' is in %s but not in %s above it: the "
                   "writes to that image were not tracked, and after the commit the bitmap "
                   "would look complete; remove the bitmap (and its checkpoint) first",
                   name, fn, un);
          return -1;
        }
    }
  }
  return 0;
}

/* The data and bitmap steps of a commit of TOP (and the images down to
 * BASE) into BASE: add to BASE each bitmap of the committed images it lacks
 * (same granularity, recording or not as it was), merge every bitmap of the
 * committed images into its counterpart, then commit the data (qemu-img
 * commit -d: TOP keeps its data, so an interrupted commit leaves the old
 * chain as it was, and running it again finishes it).  Every step can be
 * run again.
 */
static int
commit_steps(const char *top, const char *base, struct vk_imageop_disk *out)
{
  struct vk_chain ch = { 0 };
  char *err = NULL;
  if (check_dir_of(top, "commit's top image directory") < 0 ||
      check_dir_of(base, "commit's base image directory") < 0)
    return -1;
  if (vk_chain_open(top, "qcow2", &ch, &err) < 0) {
    CLEANUP_FREE char *m = vk_printable(err ? err : "out of memory");
    vk_error(errno == ENOENT ? VK_EXIT_NOT_FOUND : VK_EXIT_FAILURE, "%s", m);
    free(err);
    return -1;
  }
  int r = -1;
  long b = chain_index(&ch, base, 1);
  if (b < 0) {
    CLEANUP_FREE char *pb = vk_printable(base);
    CLEANUP_FREE char *pt = vk_printable(top);
    vk_error(VK_EXIT_NOT_FOUND, "%s is not below %s in its backing chain", pb, pt);
    goto out;
  }
  for (long k = 0; k <= b; k++)
    if (ch.images[k].format != VK_FMT_QCOW2) {
      CLEANUP_FREE char *p = vk_printable(ch.images[k].filename);
      vk_error(VK_EXIT_FAILURE, "%s is not a qcow2 image: vckpt commits qcow2 chains only", p);
      goto out;
    }
  if (check_commit_bitmaps(&ch, b) < 0)
    goto out;
  const struct vk_image *bimg = &ch.images[b];
  char **added = NULL;
  for (long k = 0; k < b; k++)
    for (size_t i = 0; i < ch.images[k].nr_bitmaps; i++) {
      const struct vk_bitmap *bm = &ch.images[k].bitmaps[i];
      if (vk_image_find_bitmap(bimg, bm->name) || (added && vk_strv_contains(added, bm->name)))
        continue;
      char g[32];
      snprintf(g, sizeof g, "%llu", 1ULL << bm->granularity_bits);
      char *argv[12];
      size_t a = 0;
      argv[a++] = (char *)QEMU_IMG;
      argv[a++] = "bitmap";
      argv[a++] = "--add";
      argv[a++] = "-g";
      argv[a++] = g;
      if (!bm->enabled)
        argv[a++] = "--disable";
      argv[a++] = "-f";
      argv[a++] = "qcow2";
      argv[a++] = "--";
      argv[a++] = (char *)base;
      argv[a++] = bm->name;
      argv[a] = NULL;
      if (vk_run(argv) < 0) {
        vk_strv_free(added);
        goto out;
      }
      strv_push(&added, vk_xstrdup(bm->name));
    }
  vk_strv_free(added);
  for (long k = 0; k < b; k++)
    for (size_t i = 0; i < ch.images[k].nr_bitmaps; i++) {
      const struct vk_bitmap *bm = &ch.images[k].bitmaps[i];
      char *argv[] = { (char *)QEMU_IMG, "bitmap", "--merge", bm->name, "-b",
                       ch.images[k].filename, "-F", "qcow2", "-f", "qcow2", "--",
                       (char *)base, bm->name, NULL };
      if (vk_run(argv) < 0)
        goto out;
      if (!out->copied || !vk_strv_contains(out->copied, bm->name))
        strv_push(&out->copied, vk_xstrdup(bm->name));
    }
  vk_test_hook("bitmaps");
  if (vk_stop_signal) {
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d before the data was committed",
             (int)vk_stop_signal);
    goto out;
  }
  char *cargv[] = { (char *)QEMU_IMG, "commit", "-q", "-f", "qcow2", "-d", "-b", (char *)base,
                    (char *)top, NULL };
  if (vk_run(cargv) < 0)
    goto out;
  vk_test_hook("commit");
  r = 0;
 out:
  vk_chain_clear(&ch);
  return r;
}

/* Rebase ABOVE onto BASE without copying (the data is identical after the
 * commit).  Already on BASE: nothing to do.
 */
static int
rebase_above(const char *above, const char *base)
{
  struct vk_image img = { 0 };
  if (open_qcow2(above, true, &img) < 0)
    return -1;
  CLEANUP_FREE char *cur = img.backing_file ? vk_resolve_backing_path(above, img.backing_file)
                                            : NULL;
  vk_image_clear(&img);
  if (cur && same_file(cur, base))
    return 0;
  CLEANUP_FREE char *bname = backing_name(above, base);
  char *argv[] = { (char *)QEMU_IMG, "rebase", "-q", "-u", "-f", "qcow2", "-F", "qcow2", "-b",
                   bname, (char *)above, NULL };
  return vk_run(argv);
}

/* Whether ABOVE already has BASE as its backing file. */
static bool
rebased(const char *above, const char *base)
{
  struct vk_image img = { 0 };
  char *err = NULL;
  if (vk_image_open(above, "qcow2", &img, &err) < 0) {
    free(err);
    return false;
  }
  CLEANUP_FREE char *cur = img.backing_file ? vk_resolve_backing_path(above, img.backing_file)
                                            : NULL;
  vk_image_clear(&img);
  return cur && same_file(cur, base);
}

/* What a commit will do: absolute paths of the active image, TOP, BASE and
 * the image above TOP (NULL when TOP is the active one).  Checks that TOP is
 * in ACTIVE's chain with BASE below it, that nothing holds the images, and
 * that the bitmaps allow it.
 */
struct cplan {
  char *active, *top, *base, *above;
};

static void
cplan_clear(struct cplan *p)
{
  free(p->active);
  free(p->top);
  free(p->base);
  free(p->above);
  memset(p, 0, sizeof *p);
}

static int
commit_plan(const char *active, const char *top, const char *base, struct cplan *p)
{
  memset(p, 0, sizeof *p);
  CLEANUP_FREE char *aactive = abs_path(active);
  if (!aactive)
    return -1;
  struct vk_image probe = { 0 };
  if (open_qcow2(aactive, true, &probe) < 0)
    return -1;
  vk_image_clear(&probe);
  struct vk_chain ch = { 0 };
  char *err = NULL;
  if (vk_chain_open(aactive, "qcow2", &ch, &err) < 0) {
    CLEANUP_FREE char *m = vk_printable(err ? err : "out of memory");
    vk_error(VK_EXIT_FAILURE, "%s", m);
    free(err);
    return -1;
  }
  int r = -1;
  CLEANUP_FREE char *ptop = vk_printable(top ? top : active);
  CLEANUP_FREE char *pact = vk_printable(active);
  long t = top ? chain_index(&ch, top, 0) : 0;
  if (t < 0) {
    vk_error(VK_EXIT_NOT_FOUND, "%s is not in the backing chain of %s", ptop, pact);
    goto out;
  }
  long b;
  if (base) {
    b = chain_index(&ch, base, t + 1);
    if (b < 0) {
      CLEANUP_FREE char *pb = vk_printable(base);
      vk_error(VK_EXIT_NOT_FOUND, "%s is not below %s in the backing chain of %s", pb, ptop,
               pact);
      goto out;
    }
  } else {
    b = t + 1;
    if ((size_t)b >= ch.nr_images) {
      if (ch.end != VK_CHAIN_COMPLETE)
        vk_error(VK_EXIT_FAILURE, "the backing file of %s cannot be read: %s", ptop,
                 ch.end_detail ? ch.end_detail : vk_chain_end_name(ch.end));
      else
        vk_error(VK_EXIT_USAGE, "%s has no backing file: there is nothing to commit it into",
                 ptop);
      goto out;
    }
  }
  for (long k = 0; k <= b; k++) {
    if (ch.images[k].format != VK_FMT_QCOW2) {
      CLEANUP_FREE char *pk = vk_printable(ch.images[k].filename);
      vk_error(VK_EXIT_FAILURE, "%s is not a qcow2 image: vckpt commits qcow2 chains only", pk);
      goto out;
    }
    if (check_not_held(ch.images[k].filename) < 0)
      goto out;
  }
  /* The committed images' bitmaps, checked on the chain as it is. */
  struct vk_chain sub = { .nr_images = b - t + 1, .images = ch.images + t };
  if (check_commit_bitmaps(&sub, b - t) < 0)
    goto out;
  p->active = vk_xstrdup(aactive);
  p->top = vk_xstrdup(ch.images[t].filename);
  p->base = vk_xstrdup(ch.images[b].filename);
  p->above = t > 0 ? vk_xstrdup(ch.images[t - 1].filename) : NULL;
  r = 0;
 out:
  vk_chain_clear(&ch);
  return r;
}

/* vk_commit_image under its catch of the stop signals. */
static int
commit_image_caught(const char *active, const char *top, const char *base,
                    struct vk_imageop_result *res)
{
  memset(res, 0, sizeof *res);
  res->kind = "commit";
  struct cplan p;
  if (commit_plan(active, top, base, &p) < 0)
    return -1;
  res->d = vk_xcalloc(1, sizeof *res->d);
  res->n = 1;
  res->d[0].base = vk_xstrdup(p.base);
  res->d[0].image = vk_xstrdup(p.top);
  res->d[0].above = p.above ? vk_xstrdup(p.above) : NULL;
  int r = commit_steps(p.top, p.base, &res->d[0]);
  if (r == 0 && p.above && vk_stop_signal) {
    CLEANUP_FREE char *pa = vk_printable(p.above);
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d before %s was rebased: the old "
             "chain is unchanged for its readers; run the command again to finish",
             (int)vk_stop_signal, pa);
    r = -1;
  } else if (r == 0 && p.above)
    r = rebase_above(p.above, p.base);
  if (r == 0)
    vk_test_hook("switch");
  cplan_clear(&p);
  return r;
}

/* Commit an image: a stop signal rolls back or comes too late (process.h). */
int
vk_commit_image(const char *active, const char *top, const char *base,
                struct vk_imageop_result *res)
{
  vk_stop_catch_begin();
  int r = commit_image_caught(active, top, base, res);
  vk_stop_catch_end();
  return r;
}

/* ---- the domain forms ---- */

/* Finish the operation journal J describes (roll forward). */
static int
recover_journal(virDomainPtr dom, const struct journal *j, bool dry_run,
                const struct vk_flow_cb *cb, struct vk_imageop_result *res)
{
  const char *domname = virDomainGetName(dom);
  bool overlay = strcmp(j->kind, "overlay") == 0;
  char **targets = vk_xcalloc(j->n + 1, sizeof *targets);
  char **from = vk_xcalloc(j->n + 1, sizeof *from);
  char **to = vk_xcalloc(j->n + 1, sizeof *to);
  bool all_switched = true;
  int r = -1;
  struct vk_disks disks = { 0 };
  struct vk_imageop_result local = { 0 };
  if (!res)
    res = &local;
  res->resumed = true;
  res->resumed_kind = vk_xstrdup(j->kind);
  res->d = vk_xcalloc(j->n, sizeof *res->d);
  res->n = j->n;
  if (vk_domain_disks(dom, VIR_DOMAIN_XML_INACTIVE, &disks) < 0)
    goto out;
  for (size_t i = 0; i < j->n; i++) {
    const struct jdisk *d = &j->d[i];
    const struct vk_disk *vd = vk_disks_find(&disks, d->target);
    if (!vd || !vd->source) {
      vk_error(VK_EXIT_NOT_FOUND, "domain '%s' has no file disk '%s' any more", domname,
               d->target);
      goto out;
    }
    targets[i] = d->target;
    res->d[i].target = vk_xstrdup(d->target);
    res->d[i].base = vk_xstrdup(d->base);
    res->d[i].image = vk_xstrdup(d->image);
    res->d[i].above = d->above ? vk_xstrdup(d->above) : NULL;
    /* A definition changed by someone else since: not ours to finish. */
    const char *old = overlay ? d->base : d->above ? d->active : d->image;
    const char *now = overlay ? d->image : d->above ? d->active : d->base;
    if (!same_image(vd->source, old) && !same_image(vd->source, now)) {
      CLEANUP_FREE char *ps = vk_printable(vd->source);
      CLEANUP_FREE char *jf = journal_file(j->uuid);
      vk_error(VK_EXIT_FAILURE, "disk %s of domain '%s' now uses %s, which the interrupted %s "
               "did not expect: look at it, then remove %s/%s by hand", d->target, domname, ps,
               j->kind, vk_state_dir(), jf);
      goto out;
    }
    if (overlay) {
      from[i] = d->base;
      to[i] = d->image;
      all_switched &= same_image(vd->source, d->image);
    } else if (d->above) {
      from[i] = to[i] = d->active;
      all_switched &= rebased(d->above, d->base);
    } else {
      from[i] = d->image;
      to[i] = d->base;
      all_switched &= same_image(vd->source, d->base);
    }
  }
  if (!all_switched && vk_domain_is_active(dom)) {
    vk_error(VK_EXIT_BUSY, "domain '%s' is running on its old images, so the interrupted %s "
             "cannot be finished now: shut it down, then run it again", domname, j->kind);
    goto out;
  }
  for (size_t i = 0; i < j->n && !all_switched; i++) {
    const struct jdisk *d = &j->d[i];
    const struct vk_disk *vd = vk_disks_find(&disks, d->target);
    if (overlay) {
      struct stat st;
      if (same_image(vd->source, d->image) || lstat(d->image, &st) == 0) {
        vk_flow_message(cb, VK_MSG_DEBUG, "disk %s: overlay %s is complete", d->target,
                        d->image);
        continue;
      }
      vk_flow_message(cb, VK_MSG_INFO, "disk %s: %screate overlay %s on %s", d->target,
                      dry_run ? "would " : "", d->image, d->base);
      if (dry_run)
        continue;
      if (unlink(d->tmp) < 0 && errno != ENOENT) {
        vk_error(VK_EXIT_FAILURE, "%s: %s", d->tmp, strerror(errno));
        goto out;
      }
      if (make_overlay(d->base, d->image, d->tmp, true, &res->d[i]) < 0)
        goto out;
    } else {
      bool done = d->above ? rebased(d->above, d->base) : same_image(vd->source, d->base);
      if (done)
        continue;
      vk_flow_message(cb, VK_MSG_INFO, "disk %s: %scommit %s into %s%s%s", d->target,
                      dry_run ? "would " : "", d->image, d->base,
                      d->above ? ", rebase " : "", d->above ? d->above : "");
      if (dry_run)
        continue;
      if (commit_steps(d->image, d->base, &res->d[i]) < 0 ||
          (d->above && rebase_above(d->above, d->base) < 0))
        goto out;
    }
  }
  if (!dry_run && !overlay)
    vk_test_hook("switch-images");
  vk_flow_message(cb, VK_MSG_INFO, "%sswitch the definition of domain '%s'",
                  dry_run ? "would " : "", domname);
  if (dry_run) {
    r = 1;
    goto out;
  }
  if (vk_stop_signal) {
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: the interrupted %s is still "
             "pending; run the command again to finish it", (int)vk_stop_signal, j->kind);
    goto out;
  }
  if (define_sources(dom, j->n, targets, from, to) < 0)
    goto out;
  vk_test_hook("define");
  if (journal_remove(j->uuid) < 0)
    goto out;
  r = 1;
 out:
  vk_imageop_result_clear(&local);
  vk_disks_clear(&disks);
  free(targets);
  free(from);
  free(to);
  return r;
}

int
vk_imageop_recover(virConnectPtr conn, virDomainPtr dom, bool dry_run,
                   const struct vk_flow_cb *cb)
{
  (void)conn;
  char uuid[VIR_UUID_STRING_BUFLEN];
  if (domain_uuid(dom, uuid) < 0)
    return -1;
  struct journal j;
  int r = journal_read(uuid, &j, false);
  if (r <= 0)
    return r;
  r = recover_journal(dom, &j, dry_run, cb, NULL);
  journal_clear(&j);
  return r;
}

int
vk_imageop_pending(virDomainPtr dom, char **what)
{
  *what = NULL;
  char uuid[VIR_UUID_STRING_BUFLEN];
  if (domain_uuid(dom, uuid) < 0)
    return -1;
  struct journal j;
  int r = journal_read(uuid, &j, true);
  if (r <= 0)
    return r;
  char **t = vk_xcalloc(j.n + 1, sizeof *t);
  for (size_t i = 0; i < j.n; i++)
    t[i] = j.d[i].target;
  CLEANUP_FREE char *list = vk_strv_join(t, ",");
  free(t);
  if (strcmp(j.kind, "overlay") == 0)
    *what = vk_xasprintf("an overlay of disk%s %s (vckpt overlay create) did not finish: the "
                         "definition may still name the old images, and overlay files may be "
                         "half made", j.n > 1 ? "s" : "", list);
  else
    *what = vk_xasprintf("a commit of %s into %s on disk %s (vckpt commit) did not finish: "
                         "the base may hold part of the data and extra bitmaps, the chain "
                         "still ends at the old images", j.d[0].image, j.d[0].base, list);
  journal_clear(&j);
  return 1;
}

/* The steps of an operation a command finishes go to --verbose only: the
 * command's output says that it finished one.
 */
static void
resume_message(void *opaque, enum vk_msg_level level, const char *text)
{
  (void)opaque;
  (void)level;
  vk_debug("%s", text);
}
static const struct vk_flow_cb resume_cb = { .message = resume_message };

/* Take the host lock of DOM, finish a pending operation if there is one
 * (1: RES says so), else refuse a running domain: 0 to go on with the lock
 * held in *LOCK, -1 after reporting.
 */
static int
domain_begin(virDomainPtr dom, const char *what, char *uuid, int *lock,
             struct vk_imageop_result *res)
{
  const char *domname = virDomainGetName(dom);
  *lock = -1;
  if (domain_uuid(dom, uuid) < 0)
    return -1;
  *lock = vk_host_lock(domname, uuid, vk_state_dir());
  if (*lock < 0)
    return -1;
  struct journal j;
  int r = journal_read(uuid, &j, false);
  if (r < 0)
    return -1;
  if (r > 0) {
    r = recover_journal(dom, &j, false, &resume_cb, res);
    journal_clear(&j);
    return r < 0 ? -1 : 1;
  }
  if (vk_domain_is_active(dom)) {
    vk_error(VK_EXIT_BUSY, "domain '%s' is running: %s works on a shut-off domain's images "
             "only; for a running domain take a live external snapshot with libvirt "
             "(virsh snapshot-create-as %s --disk-only) or a live commit (virsh blockcommit)",
             domname, what, domname);
    return -1;
  }
  return 0;
}

/* After domain_begin finished a pending operation (RES): 0 when it was the
 * one asked for now (KIND; for an overlay the snapshot name SNAP and the
 * disks WANT if given, for a commit DISK and TOP), so that running the command again is
 * how an interrupted one is finished; else -1, reported with exit 5: what
 * was asked for has not been done, and a cron job must not read success.
 */
static int
resumed_as_asked(const struct vk_imageop_result *res, const char *domname, const char *kind,
                 const char *snap, char *const *want, const char *disk, const char *top)
{
  bool same = strcmp(res->resumed_kind, kind) == 0;
  /* An overlay of named disks: the same disks. */
  for (size_t i = 0; same && want && want[i]; i++) {
    bool found = false;
    for (size_t k = 0; k < res->n && !found; k++)
      found = res->d[k].target && strcmp(res->d[k].target, want[i]) == 0;
    same = found;
  }
  for (size_t k = 0; same && want && k < res->n; k++)
    same = res->d[k].target && vk_strv_contains(want, res->d[k].target);
  for (size_t i = 0; same && snap && i < res->n; i++) {
    CLEANUP_FREE char *tail = vk_xasprintf(".%s.qcow2", snap);
    const char *img = res->d[i].image ? res->d[i].image : "";
    size_t il = strlen(img), tl = strlen(tail);
    same = il >= tl && strcmp(img + il - tl, tail) == 0;
  }
  if (same && disk) {
    bool found = false;
    for (size_t i = 0; i < res->n && !found; i++)
      found = res->d[i].target && strcmp(res->d[i].target, disk) == 0 &&
              (!top || (res->d[i].image && (strcmp(res->d[i].image, top) == 0 ||
                                            same_file(res->d[i].image, top))));
    same = found;
  }
  if (same)
    return 0;
  vk_error(VK_EXIT_BUSY, "an interrupted %s of domain '%s' was pending: it is finished now, "
           "but the %s asked for was not done; run the command again", res->resumed_kind,
           domname, kind);
  return -1;
}

/* The file disk TARGET of DISKS that vckpt can work on, or NULL (reported). */
static const struct vk_disk *
qcow2_disk(const struct vk_disks *disks, const char *domname, const char *target)
{
  const struct vk_disk *d = vk_disks_find(disks, target);
  if (!d || strcmp(d->device, "disk") != 0) {
    vk_error(VK_EXIT_NOT_FOUND, "domain '%s' has no disk '%s'", domname, target);
    return NULL;
  }
  if (!d->type || strcmp(d->type, "file") != 0 || !d->source || d->source[0] != '/' ||
      !d->format || strcmp(d->format, "qcow2") != 0) {
    vk_error(VK_EXIT_FAILURE, "disk %s of domain '%s' is not a qcow2 file (type %s, format "
             "%s): only qcow2 files carry bitmaps", target, domname, d->type ? d->type : "?",
             d->format ? d->format : "?");
    return NULL;
  }
  return d;
}

/* vk_overlay_domain under its catch of the stop signals. */
static int
overlay_domain_caught(virDomainPtr dom, char *const *want, const char *snap,
                      struct vk_imageop_result *res)
{
  memset(res, 0, sizeof *res);
  res->kind = "overlay";
  const char *domname = virDomainGetName(dom);
  char stamp[32];
  if (!snap) {
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
    snap = stamp;
  }
  if (vk_check_name("snapshot", snap) < 0)
    return -1;
  char uuid[VIR_UUID_STRING_BUFLEN];
  int lock = -1;
  int b = domain_begin(dom, "overlay create", uuid, &lock, res);
  if (b != 0) {
    vk_host_unlock(lock);
    if (b < 0)
      return -1;
    return resumed_as_asked(res, domname, "overlay", snap == stamp ? NULL : snap, want, NULL,
                            NULL);
  }
  CLEANUP_DISKS struct vk_disks disks = { 0 };
  struct journal j = { .kind = vk_xstrdup("overlay"), .domain = vk_xstrdup(domname),
                       .uuid = vk_xstrdup(uuid) };
  int r = -1;
  if (vk_domain_disks(dom, VIR_DOMAIN_XML_INACTIVE, &disks) < 0)
    goto out;
  j.d = vk_xcalloc(disks.n + 1, sizeof *j.d);
  for (size_t i = 0; i < disks.n; i++) {
    const struct vk_disk *vd = &disks.disk[i];
    if (want ? !vk_strv_contains(want, vd->target)
             : strcmp(vd->device, "disk") != 0 || vd->readonly)
      continue;
    const struct vk_disk *d = qcow2_disk(&disks, domname, vd->target);
    if (!d)
      goto out;
    const char *file = base_of(d->source);
    size_t fl = strlen(file);
    int stem = fl > 6 && strcmp(file + fl - 6, ".qcow2") == 0 ? (int)(fl - 6) : (int)fl;
    CLEANUP_FREE char *dir = dir_of(d->source);
    struct jdisk *jd = &j.d[j.n++];
    jd->target = vk_xstrdup(d->target);
    jd->base = vk_xstrdup(d->source);
    jd->image = vk_xasprintf("%s/%.*s.%s.qcow2", strcmp(dir, "/") ? dir : "", stem, file, snap);
    jd->tmp = temp_name(jd->image);
    if (check_absent(jd->image) < 0 || check_not_held(jd->base) < 0)
      goto out;
    struct vk_image img = { 0 };
    if (open_qcow2(jd->base, true, &img) < 0)
      goto out;
    vk_image_clear(&img);
  }
  for (size_t i = 0; want && want[i]; i++)
    if (!qcow2_disk(&disks, domname, want[i]))
      goto out;
  if (j.n == 0) {
    vk_error(VK_EXIT_NOT_FOUND, "domain '%s' has no writable disk", domname);
    goto out;
  }
  if (journal_write(&j) < 0)
    goto out;
  vk_test_hook("journal");
  res->d = vk_xcalloc(j.n, sizeof *res->d);
  res->n = j.n;
  char **targets = vk_xcalloc(j.n + 1, sizeof *targets);
  char **from = vk_xcalloc(j.n + 1, sizeof *from);
  char **to = vk_xcalloc(j.n + 1, sizeof *to);
  size_t made = 0;
  for (size_t i = 0; i < j.n; i++) {
    res->d[i].target = vk_xstrdup(j.d[i].target);
    res->d[i].base = vk_xstrdup(j.d[i].base);
    res->d[i].image = vk_xstrdup(j.d[i].image);
    targets[i] = j.d[i].target;
    from[i] = j.d[i].base;
    to[i] = j.d[i].image;
  }
  for (; made < j.n && !vk_stop_signal; made++) {
    if (make_overlay(j.d[made].base, j.d[made].image, j.d[made].tmp, true, &res->d[made]) < 0)
      break;
    vk_test_hook("overlay");
  }
  /* The switch of the definition is the commit point: a stop signal
   * before it undoes the overlays, one after it comes too late.
   */
  bool stopped = vk_stop_signal != 0;
  bool defined = made == j.n && !stopped && define_sources(dom, j.n, targets, from, to) == 0;
  free(targets);
  free(from);
  free(to);
  if (made < j.n || stopped) {
    /* Nothing refers to the overlays made so far: remove them, and the
     * journal, so that the domain is as it was.
     */
    bool clean = true;
    for (size_t i = 0; i < made; i++)
      if (unlink(j.d[i].image) < 0 && errno != ENOENT)
        clean = false;
    if (clean)
      journal_remove(uuid);
    const char *said = clean ? "the overlays made were removed, the domain uses its old "
                               "images" : "some overlays could not be removed (run the "
                               "command again)";
    if (stopped && vk_error_reported())   /* the stop is reported: say the rest */
      vk_warn("interrupted by signal %d: %s", (int)vk_stop_signal, said);
    else if (stopped)
      vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: %s", (int)vk_stop_signal, said);
    goto out;
  }
  if (!defined) {
    /* libvirt may or may not have taken the definition: the journal stays. */
    vk_warn("the overlays are made but the definition may not name them yet: run the "
            "command again to finish (vckpt validate reports image-operation-pending)");
    goto out;
  }
  vk_test_hook("define");
  if (journal_remove(uuid) < 0)
    goto out;
  if (vk_stop_signal)
    vk_warn("signal %d came too late to stop the overlay: it is complete",
            (int)vk_stop_signal);
  r = 0;
 out:
  journal_clear(&j);
  vk_host_unlock(lock);
  return r;
}

/* Overlay a domain's disks: a stop signal rolls back or comes too late (process.h). */
int
vk_overlay_domain(virDomainPtr dom, char *const *want, const char *snap,
                  struct vk_imageop_result *res)
{
  vk_stop_catch_begin();
  int r = overlay_domain_caught(dom, want, snap, res);
  vk_stop_catch_end();
  return r;
}

/* vk_commit_domain under its catch of the stop signals. */
static int
commit_domain_caught(virDomainPtr dom, const char *disk, const char *top, const char *base,
                     struct vk_imageop_result *res)
{
  memset(res, 0, sizeof *res);
  res->kind = "commit";
  const char *domname = virDomainGetName(dom);
  char uuid[VIR_UUID_STRING_BUFLEN];
  int lock = -1;
  int b = domain_begin(dom, "commit", uuid, &lock, res);
  if (b != 0) {
    vk_host_unlock(lock);
    if (b < 0)
      return -1;
    return resumed_as_asked(res, domname, "commit", NULL, NULL, disk, top);
  }
  CLEANUP_DISKS struct vk_disks disks = { 0 };
  struct cplan p = { 0 };
  struct journal j = { .kind = vk_xstrdup("commit"), .domain = vk_xstrdup(domname),
                       .uuid = vk_xstrdup(uuid) };
  int r = -1;
  if (vk_domain_disks(dom, VIR_DOMAIN_XML_INACTIVE, &disks) < 0)
    goto out;
  const struct vk_disk *d = qcow2_disk(&disks, domname, disk);
  if (!d || commit_plan(d->source, top, base, &p) < 0)
    goto out;
  /* Committing into a base another domain uses (a linked clone) would
   * change what that domain's disk holds.
   */
  {
    CLEANUP_FREE char *other = NULL;
    int shared = vk_image_shared(dom, p.base, &other);
    if (shared != 0) {
      if (shared > 0)
        vk_error(VK_EXIT_PREFLIGHT, "%s is also in the backing chain of domain '%s': "
                 "committing into it would change that domain's disk; nothing was done",
                 p.base, other);
      goto out;
    }
  }
  j.d = vk_xcalloc(1, sizeof *j.d);
  j.n = 1;
  j.d[0] = (struct jdisk) {
    .target = vk_xstrdup(disk), .base = vk_xstrdup(p.base), .image = vk_xstrdup(p.top),
    .active = vk_xstrdup(d->source), .above = p.above ? vk_xstrdup(p.above) : NULL,
  };
  res->d = vk_xcalloc(1, sizeof *res->d);
  res->n = 1;
  res->d[0].target = vk_xstrdup(disk);
  res->d[0].base = vk_xstrdup(p.base);
  res->d[0].image = vk_xstrdup(p.top);
  res->d[0].above = p.above ? vk_xstrdup(p.above) : NULL;
  if (journal_write(&j) < 0)
    goto out;
  vk_test_hook("journal");
  if (commit_steps(p.top, p.base, &res->d[0]) < 0) {
    /* A step that failed (not a kill) will fail again: nothing above the
     * base was switched, so the old chain is still what the guest sees
     * (the base may hold part of the data under TOP, and extra bitmap
     * bits, both harmless).  Keeping the journal would only make validate
     * refuse every backup.
     */
    if (journal_remove(uuid) == 0)
      vk_warn("the commit stopped before anything was switched: domain '%s' still uses "
              "its old chain, unchanged for the guest", domname);
    goto out;
  }
  /* The switch (rebase of the image above, or the definition) is the
   * commit point: a stop signal before it leaves the old chain in use.
   */
  if (vk_stop_signal) {
    if (journal_remove(uuid) == 0)
      vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d before the switch: domain '%s' "
               "still uses its old chain, unchanged for the guest (its base holds the "
               "committed data too)", (int)vk_stop_signal, domname);
    goto out;
  }
  char *targets[] = { (char *)disk, NULL };
  char *from[] = { p.above ? d->source : p.top, NULL };
  char *to[] = { p.above ? d->source : p.base, NULL };
  if (p.above && rebase_above(p.above, p.base) < 0)
    goto out;
  vk_test_hook("switch-images");
  if (define_sources(dom, 1, targets, from, to) < 0)
    goto out;
  vk_test_hook("define");
  if (journal_remove(uuid) < 0)
    goto out;
  if (vk_stop_signal)
    vk_warn("signal %d came too late to stop the commit: it is complete",
            (int)vk_stop_signal);
  r = 0;
 out:
  cplan_clear(&p);
  journal_clear(&j);
  vk_host_unlock(lock);
  return r;
}

/* Commit a domain's disk: a stop signal rolls back or comes too late (process.h). */
int
vk_commit_domain(virDomainPtr dom, const char *disk, const char *top, const char *base,
                 struct vk_imageop_result *res)
{
  vk_stop_catch_begin();
  int r = commit_domain_caught(dom, disk, top, base, res);
  vk_stop_catch_end();
  return r;
}

/* ---- results ---- */

void
vk_imageop_result_clear(struct vk_imageop_result *res)
{
  for (size_t i = 0; i < res->n; i++) {
    struct vk_imageop_disk *d = &res->d[i];
    free(d->target);
    free(d->base);
    free(d->image);
    free(d->above);
    vk_strv_free(d->copied);
    vk_strv_free(d->skipped);
  }
  free(res->d);
  free(res->resumed_kind);
  memset(res, 0, sizeof *res);
}

static json_object *
strv_json(char *const *v)
{
  json_object *a = json_object_new_array();
  for (size_t i = 0; v && v[i]; i++)
    json_object_array_add(a, vk_json_string(v[i]));
  return a;
}

json_object *
vk_imageop_result_json(const struct vk_imageop_result *res)
{
  json_object *o = json_object_new_object();
  json_object_object_add(o, "operation", json_object_new_string(res->kind));
  json_object_object_add(o, "resumed", json_object_new_boolean(res->resumed));
  json_object_object_add(o, "resumed_operation", vk_json_string(res->resumed_kind));
  json_object *arr = json_object_new_array();
  for (size_t i = 0; i < res->n; i++) {
    const struct vk_imageop_disk *d = &res->d[i];
    json_object *j = json_object_new_object();
    json_object_object_add(j, "disk", vk_json_string(d->target));
    json_object_object_add(j, "base", vk_json_string(d->base));
    json_object_object_add(j, strcmp(res->resumed_kind ? res->resumed_kind : res->kind,
                                     "overlay") == 0 ? "overlay" : "top",
                           vk_json_string(d->image));
    json_object_object_add(j, "rebased", vk_json_string(d->above));
    json_object_object_add(j, "bitmaps", strv_json(d->copied));
    json_object_object_add(j, "skipped", strv_json(d->skipped));
    json_object_array_add(arr, j);
  }
  json_object_object_add(o, "disks", arr);
  return o;
}

int
vk_image_shared(virDomainPtr dom, const char *path, char **other)
{
  struct stat want;
  *other = NULL;
  if (stat(path, &want) < 0)
    return 0;
  virConnectPtr conn = virDomainGetConnect(dom);
  unsigned char uuid[VIR_UUID_BUFLEN], u[VIR_UUID_BUFLEN];
  virDomainPtr *doms = NULL;
  int n = conn && virDomainGetUUID(dom, uuid) == 0 ? virConnectListAllDomains(conn, &doms, 0)
                                                  : -1;
  if (n < 0) {
    vk_virt_error("cannot list the domains to check who else uses %s", path);
    return -1;
  }
  int r = 0;
  for (int i = 0; i < n; i++) {
    if (r == 0 && virDomainGetUUID(doms[i], u) == 0 && memcmp(u, uuid, sizeof u) != 0) {
      struct vk_disks disks = { 0 };
      if (vk_domain_disks(doms[i], VIR_DOMAIN_XML_INACTIVE, &disks) == 0) {
        for (size_t k = 0; k < disks.n && r == 0; k++) {
          const struct vk_disk *d = &disks.disk[k];
          if (!d->source || !d->type || strcmp(d->type, "file") != 0)
            continue;
          struct vk_chain chain = { 0 };
          char *err = NULL;
          if (vk_chain_open(d->source, d->format ? d->format : "raw", &chain, &err) == 0) {
            for (size_t j = 0; j < chain.nr_images && r == 0; j++) {
              struct stat st;
              if (stat(chain.images[j].filename, &st) == 0 && st.st_dev == want.st_dev &&
                  st.st_ino == want.st_ino) {
                const char *name = virDomainGetName(doms[i]);
                *other = vk_xstrdup(name ? name : "?");
                r = 1;
              }
            }
            vk_chain_clear(&chain);
          }
          free(err);
        }
        vk_disks_clear(&disks);
      }
    }
    virDomainFree(doms[i]);
  }
  free(doms);
  return r;
}
