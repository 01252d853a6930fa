/* vckpt - overlay and commit of a domain's disks, journaled (imageop.h). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libxml/relaxng.h>

#include "access.h"
#include "commit.h"
#include "fileio.h"
#include "hostlock.h"
#include "imageop.h"
#include "journal.h"
#include "manifest.h"
#include "overlay.h"
#include "process.h"
#include "testhook.h"
#include "util.h"
#include "virt.h"
#include "xml.h"


const char *
vk_state_dir(void)
{
  const char *e = getenv("VCKPT_STATE_DIR");
  return e && *e ? e : VK_VAR_DIR;
}

/* ---- the journal of a domain ---- */

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

/* Write journal J (journal.h), valid against the schema, crash-safely. */
static int
journal_write(const struct vk_imageop_journal *j)
{
  CLEANUP_CLOSE int dfd = state_dir_open(true, false);
  if (dfd < 0)
    return -1;
  CLEANUP_XMLDOC xmlDocPtr doc = vk_imageop_journal_build(j);
  CLEANUP_FREE char *name = journal_file(j->uuid);
  CLEANUP_FREE char *path = vk_xasprintf("%s/%s", vk_state_dir(), name);
  xmlRelaxNGPtr schema = NULL;
  int valid = vk_manifest_validate(&schema, doc, path, true);
  if (schema)
    xmlRelaxNGFree(schema);
  if (valid < 0)
    return -1;
  CLEANUP_FREE char *xml = vk_xml_format(doc);
  return vk_write_atomic(dfd, name, path, xml, false);
}

/* Read the journal of domain UUID, validated against the schema like the
 * repository's (and read as every vckpt wrote it): 1, 0 if there is none,
 * -1 after reporting.  QUIET: a state directory others can write to holds
 * none.
 */
static int
journal_read(const char *uuid, struct vk_imageop_journal *j, bool quiet)
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
  CLEANUP_XMLDOC xmlDocPtr doc = NULL;
  xmlRelaxNGPtr schema = NULL;
  int r = vk_manifest_load_doc(dfd, name, path, "imageop", &schema, &doc);
  if (schema)
    xmlRelaxNGFree(schema);
  if (r < 0)
    return -1;
  if (!doc)
    return 0;
  return vk_imageop_journal_parse(doc, path, uuid, j) < 0 ? -1 : 1;
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

/* Switch the persistent definition of DOM to the images MOVES name
 * (vk_domain_move_disks), unless the domain was started meanwhile (by
 * someone else): it runs on the old images, and a definition naming the
 * new ones would lose its writes at the next boot.
 */
static int
switch_definition(virDomainPtr dom, size_t n, const struct vk_disk_move *moves)
{
  if (vk_domain_is_active(dom)) {
    vk_error(VK_EXIT_BUSY, "domain '%s' was started meanwhile, on its old images: the "
             "definition is left as it is; shut it down and run the command again to finish",
             virDomainGetName(dom));
    return -1;
  }
  return vk_domain_move_disks(dom, n, moves);
}

/* ---- finishing a journal ---- */

/* Run again the steps of disk D of journal J (kind OVERLAY or a commit)
 * whose disk uses SOURCE now: OUT says what they did.  DRY_RUN describes
 * them through CB.
 */
static int
finish_disk(const struct vk_imageop_journal_disk *d, bool overlay, const char *source,
            bool dry_run, const struct vk_flow_cb *cb, struct vk_imageop_disk *out)
{
  if (overlay) {
    struct stat st;
    if (vk_same_image(source, d->image) || lstat(d->image, &st) == 0) {
      vk_flow_message(cb, VK_MSG_DEBUG, "disk %s: overlay %s is complete", d->target,
                      d->image);
      return 0;
    }
    vk_flow_message(cb, VK_MSG_INFO, "disk %s: %screate overlay %s on %s", d->target,
                    dry_run ? "would " : "", d->image, d->base);
    if (dry_run)
      return 0;
    if (unlink(d->tmp) < 0 && errno != ENOENT) {
      vk_error(VK_EXIT_FAILURE, "%s: %s", d->tmp, strerror(errno));
      return -1;
    }
    return vk_overlay_make(d->base, d->image, d->tmp, true, out);
  }
  bool done = d->above ? vk_commit_rebased(d->above, d->base) : vk_same_image(source, d->base);
  if (done)
    return 0;
  vk_flow_message(cb, VK_MSG_INFO, "disk %s: %scommit %s into %s%s%s", d->target,
                  dry_run ? "would " : "", d->image, d->base,
                  d->above ? ", rebase " : "", d->above ? d->above : "");
  if (dry_run)
    return 0;
  if (vk_commit_steps(d->image, d->base, out) < 0 ||
      (d->above && vk_commit_rebase(d->above, d->base) < 0))
    return -1;
  return 0;
}

/* Finish the operation journal J describes (roll forward); RES says what
 * was done.
 */
static int
recover_journal(virDomainPtr dom, const struct vk_imageop_journal *j, bool dry_run,
                const struct vk_flow_cb *cb, struct vk_imageop_result *res)
{
  const char *domname = virDomainGetName(dom);
  const char *kind = vk_imageop_kind_name(j->kind);
  bool overlay = j->kind == VK_IMAGEOP_OVERLAY;
  CLEANUP_FREE struct vk_disk_move *moves = vk_xcalloc(j->n, sizeof *moves);
  CLEANUP_FREE const char **sources = vk_xcalloc(j->n, sizeof *sources);
  CLEANUP_DISKS struct vk_disks disks = { 0 };
  bool all_switched = true;
  res->resumed = true;
  res->resumed_kind = vk_xstrdup(kind);
  res->d = vk_xcalloc(j->n, sizeof *res->d);
  res->n = j->n;
  if (vk_domain_disks(dom, VIR_DOMAIN_XML_INACTIVE, &disks) < 0)
    return -1;
  for (size_t i = 0; i < j->n; i++) {
    const struct vk_imageop_journal_disk *d = &j->d[i];
    const struct vk_disk *vd = vk_disks_find(&disks, d->target);
    if (!vd || !vd->source) {
      vk_error(VK_EXIT_NOT_FOUND, "domain '%s' has no file disk '%s' any more", domname,
               d->target);
      return -1;
    }
    sources[i] = vd->source;
    res->d[i].target = vk_xstrdup(d->target);
    res->d[i].base = vk_xstrdup(d->base);
    res->d[i].image = vk_xstrdup(d->image);
    res->d[i].above = d->above ? vk_xstrdup(d->above) : NULL;
    /* A definition changed by someone else since: not ours to finish. */
    const char *old = overlay ? d->base : d->above ? d->active : d->image;
    const char *now = overlay ? d->image : d->above ? d->active : d->base;
    if (!vk_same_image(vd->source, old) && !vk_same_image(vd->source, now)) {
      CLEANUP_FREE char *ps = vk_printable(vd->source);
      CLEANUP_FREE char *jf = journal_file(j->uuid);
      vk_error(VK_EXIT_FAILURE, "disk %s of domain '%s' now uses %s, which the interrupted %s "
               "did not expect: look at it, then remove %s/%s by hand", d->target, domname, ps,
               kind, vk_state_dir(), jf);
      return -1;
    }
    moves[i] = (struct vk_disk_move) { .target = d->target, .from = old, .to = now };
    if (overlay)
      all_switched &= vk_same_image(vd->source, d->image);
    else if (d->above)
      all_switched &= vk_commit_rebased(d->above, d->base);
    else
      all_switched &= vk_same_image(vd->source, d->base);
  }
  if (!all_switched && vk_domain_is_active(dom)) {
    vk_error(VK_EXIT_BUSY, "domain '%s' is running on its old images, so the interrupted %s "
             "cannot be finished now: shut it down, then run it again", domname, kind);
    return -1;
  }
  for (size_t i = 0; i < j->n && !all_switched; i++)
    if (finish_disk(&j->d[i], overlay, sources[i], dry_run, cb, &res->d[i]) < 0)
      return -1;
  if (!dry_run && !overlay)
    vk_test_hook("switch-images");
  vk_flow_message(cb, VK_MSG_INFO, "%sswitch the definition of domain '%s'",
                  dry_run ? "would " : "", domname);
  if (dry_run)
    return 1;
  if (vk_stop_signal) {
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: the interrupted %s is still "
             "pending; run the command again to finish it", (int)vk_stop_signal, kind);
    return -1;
  }
  if (switch_definition(dom, j->n, moves) < 0)
    return -1;
  vk_test_hook("define");
  if (journal_remove(j->uuid) < 0)
    return -1;
  return 1;
}

int
vk_imageop_recover(virConnectPtr conn, virDomainPtr dom, bool dry_run,
                   const struct vk_flow_cb *cb)
{
  (void)conn;
  char uuid[VIR_UUID_STRING_BUFLEN];
  if (domain_uuid(dom, uuid) < 0)
    return -1;
  CLEANUP_IMAGEOP_JOURNAL struct vk_imageop_journal j = { .kind = VK_IMAGEOP_OVERLAY };
  int r = journal_read(uuid, &j, false);
  if (r <= 0)
    return r;
  struct vk_imageop_result res = { 0 };
  r = recover_journal(dom, &j, dry_run, cb, &res);
  vk_imageop_result_clear(&res);
  return r;
}

int
vk_imageop_pending(virDomainPtr dom, char **what)
{
  *what = NULL;
  char uuid[VIR_UUID_STRING_BUFLEN];
  if (domain_uuid(dom, uuid) < 0)
    return -1;
  CLEANUP_IMAGEOP_JOURNAL struct vk_imageop_journal j = { .kind = VK_IMAGEOP_OVERLAY };
  int r = journal_read(uuid, &j, true);
  if (r <= 0)
    return r;
  CLEANUP_FREE char **t = vk_xcalloc(j.n + 1, sizeof *t);
  for (size_t i = 0; i < j.n; i++)
    t[i] = j.d[i].target;
  CLEANUP_FREE char *list = vk_strv_join(t, ",");
  if (j.kind == VK_IMAGEOP_OVERLAY)
    *what = vk_xasprintf("an overlay of disk%s %s (vckpt overlay create) did not finish: the "
                         "definition may still name the old images, and overlay files may be "
                         "half made", j.n > 1 ? "s" : "", list);
  else
    *what = vk_xasprintf("a commit of %s into %s on disk %s (vckpt commit) did not finish: "
                         "the base may hold part of the data and extra bitmaps, the chain "
                         "still ends at the old images", j.d[0].image, j.d[0].base, list);
  return 1;
}

/* ---- the domain forms ---- */

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
  CLEANUP_IMAGEOP_JOURNAL struct vk_imageop_journal j = { .kind = VK_IMAGEOP_OVERLAY };
  int r = journal_read(uuid, &j, false);
  if (r < 0)
    return -1;
  if (r > 0)
    return recover_journal(dom, &j, false, &resume_cb, res) < 0 ? -1 : 1;
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
              (!top || vk_same_image(res->d[i].image, top));
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

/* Plan into J the overlays SNAP of DOM's disks WANT (NULL: every writable
 * disk): each next to its disk's current image, which must be a qcow2 file
 * nothing holds, under a name that does not exist yet.
 */
static int
overlay_plan(virDomainPtr dom, char *const *want, const char *snap,
             struct vk_imageop_journal *j)
{
  const char *domname = virDomainGetName(dom);
  CLEANUP_DISKS struct vk_disks disks = { 0 };
  if (vk_domain_disks(dom, VIR_DOMAIN_XML_INACTIVE, &disks) < 0)
    return -1;
  j->d = vk_xcalloc(disks.n + 1, sizeof *j->d);
  for (size_t i = 0; i < disks.n; i++) {
    const struct vk_disk *vd = &disks.disk[i];
    if (want ? !vk_strv_contains(want, vd->target)
             : strcmp(vd->device, "disk") != 0 || vd->readonly)
      continue;
    const struct vk_disk *d = qcow2_disk(&disks, domname, vd->target);
    if (!d)
      return -1;
    const char *file = vk_base_of(d->source);
    size_t fl = strlen(file);
    int stem = fl > 6 && strcmp(file + fl - 6, ".qcow2") == 0 ? (int)(fl - 6) : (int)fl;
    CLEANUP_FREE char *dir = vk_dir_of(d->source);
    struct vk_imageop_journal_disk *jd = &j->d[j->n++];
    jd->target = vk_xstrdup(d->target);
    jd->base = vk_xstrdup(d->source);
    jd->image = vk_xasprintf("%s/%.*s.%s.qcow2", strcmp(dir, "/") ? dir : "", stem, file, snap);
    jd->tmp = vk_temp_name(jd->image);
    if (vk_check_absent(jd->image) < 0 || vk_check_not_held(jd->base) < 0)
      return -1;
    CLEANUP_IMAGE struct vk_image img = { 0 };
    if (vk_image_open_qcow2(jd->base, true, &img) < 0)
      return -1;
  }
  for (size_t i = 0; want && want[i]; i++)
    if (!qcow2_disk(&disks, domname, want[i]))
      return -1;
  if (j->n == 0) {
    vk_error(VK_EXIT_NOT_FOUND, "domain '%s' has no writable disk", domname);
    return -1;
  }
  return 0;
}

/* Undo an overlay stopped (STOPPED: by a signal) after MADE of the overlays
 * J plans were made: nothing refers to them, so they are removed, and the
 * journal, so that the domain is as it was.  Always -1.
 */
static int
overlay_undo(const struct vk_imageop_journal *j, size_t made, bool stopped)
{
  bool clean = true;
  for (size_t i = 0; i < made; i++)
    if (unlink(j->d[i].image) < 0 && errno != ENOENT)
      clean = false;
  if (clean)
    journal_remove(j->uuid);
  const char *said = clean ? "the overlays made were removed, the domain uses its old "
                             "images" : "some overlays could not be removed (run the "
                             "command again)";
  if (stopped && vk_error_reported())   /* the stop is reported: say the rest */
    vk_warn("interrupted by signal %d: %s", (int)vk_stop_signal, said);
  else if (stopped)
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: %s", (int)vk_stop_signal, said);
  return -1;
}

/* Carry out the overlay J plans: journal, overlays, the switch of DOM's
 * definition (the commit point: a stop signal before it undoes the
 * overlays, one after it comes too late), no journal.
 */
static int
overlay_run(virDomainPtr dom, const struct vk_imageop_journal *j, struct vk_imageop_result *res)
{
  if (journal_write(j) < 0)
    return -1;
  vk_test_hook("journal");
  res->d = vk_xcalloc(j->n, sizeof *res->d);
  res->n = j->n;
  CLEANUP_FREE struct vk_disk_move *moves = vk_xcalloc(j->n, sizeof *moves);
  for (size_t i = 0; i < j->n; i++) {
    res->d[i].target = vk_xstrdup(j->d[i].target);
    res->d[i].base = vk_xstrdup(j->d[i].base);
    res->d[i].image = vk_xstrdup(j->d[i].image);
    moves[i] = (struct vk_disk_move) {
      .target = j->d[i].target, .from = j->d[i].base, .to = j->d[i].image,
    };
  }
  size_t made = 0;
  for (; made < j->n && !vk_stop_signal; made++) {
    if (vk_overlay_make(j->d[made].base, j->d[made].image, j->d[made].tmp, true,
                        &res->d[made]) < 0)
      break;
    vk_test_hook("overlay");
  }
  bool stopped = vk_stop_signal != 0;
  if (made < j->n || stopped)
    return overlay_undo(j, made, stopped);
  if (switch_definition(dom, j->n, moves) < 0) {
    /* libvirt may or may not have taken the definition: the journal stays. */
    vk_warn("the overlays are made but the definition may not name them yet: run the "
            "command again to finish (vckpt validate reports image-operation-pending)");
    return -1;
  }
  vk_test_hook("define");
  if (journal_remove(j->uuid) < 0)
    return -1;
  if (vk_stop_signal)
    vk_warn("signal %d came too late to stop the overlay: it is complete",
            (int)vk_stop_signal);
  return 0;
}

/* vk_overlay_domain under its catch of the stop signals. */
static int
overlay_domain_caught(virDomainPtr dom, char *const *want, const char *snap,
                      struct vk_imageop_result *res)
{
  memset(res, 0, sizeof *res);
  res->kind = "overlay";
  const char *domname = virDomainGetName(dom);
  char stamp[VK_STAMP_LEN];
  if (!snap) {
    vk_utc_stamp(time(NULL), stamp);
    snap = stamp;
  }
  if (vk_check_name("snapshot", snap) < 0)
    return -1;
  char uuid[VIR_UUID_STRING_BUFLEN];
  int lock = -1;
  int b = domain_begin(dom, "overlay create", uuid, &lock, res);
  int r = -1;
  if (b > 0)
    r = resumed_as_asked(res, domname, "overlay", snap == stamp ? NULL : snap, want, NULL,
                         NULL);
  else if (b == 0) {
    CLEANUP_IMAGEOP_JOURNAL struct vk_imageop_journal j = {
      .kind = VK_IMAGEOP_OVERLAY, .domain = vk_xstrdup(domname), .uuid = vk_xstrdup(uuid),
    };
    r = overlay_plan(dom, want, snap, &j) < 0 ? -1 : overlay_run(dom, &j, res);
  }
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

/* Carry out commit P of disk DISK of DOM (domain UUID), whose definition
 * names ACTIVE: journal, the data and bitmap steps, the switch (rebase of
 * the image above, or the definition: the commit point, a stop signal
 * before it leaves the old chain in use), no journal.
 */
static int
commit_run(virDomainPtr dom, const char *uuid, const char *disk, const char *active,
           const struct vk_commit_plan *p, struct vk_imageop_result *res)
{
  const char *domname = virDomainGetName(dom);
  /* Committing into a base another domain uses (a linked clone) would
   * change what that domain's disk holds.
   */
  CLEANUP_FREE char *other = NULL;
  int shared = vk_image_shared(dom, p->base, &other);
  if (shared != 0) {
    if (shared > 0)
      vk_error(VK_EXIT_PREFLIGHT, "%s is also in the backing chain of domain '%s': "
               "committing into it would change that domain's disk; nothing was done",
               p->base, other);
    return -1;
  }
  CLEANUP_IMAGEOP_JOURNAL struct vk_imageop_journal j = {
    .kind = VK_IMAGEOP_COMMIT, .domain = vk_xstrdup(domname), .uuid = vk_xstrdup(uuid),
  };
  j.d = vk_xcalloc(1, sizeof *j.d);
  j.n = 1;
  j.d[0] = (struct vk_imageop_journal_disk) {
    .target = vk_xstrdup(disk), .base = vk_xstrdup(p->base), .image = vk_xstrdup(p->top),
    .active = vk_xstrdup(active), .above = p->above ? vk_xstrdup(p->above) : NULL,
  };
  res->d = vk_xcalloc(1, sizeof *res->d);
  res->n = 1;
  res->d[0].target = vk_xstrdup(disk);
  res->d[0].base = vk_xstrdup(p->base);
  res->d[0].image = vk_xstrdup(p->top);
  res->d[0].above = p->above ? vk_xstrdup(p->above) : NULL;
  if (journal_write(&j) < 0)
    return -1;
  vk_test_hook("journal");
  if (vk_commit_steps(p->top, p->base, &res->d[0]) < 0) {
    /* A step that failed (not a kill) will fail again: nothing above the
     * base was switched, so the old chain is still what the guest sees
     * (the base may hold part of the data under TOP, and extra bitmap
     * bits, both harmless).  Keeping the journal would only make validate
     * refuse every backup.
     */
    if (journal_remove(uuid) == 0)
      vk_warn("the commit stopped before anything was switched: domain '%s' still uses "
              "its old chain, unchanged for the guest", domname);
    return -1;
  }
  if (vk_stop_signal) {
    if (journal_remove(uuid) == 0)
      vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d before the switch: domain '%s' "
               "still uses its old chain, unchanged for the guest (its base holds the "
               "committed data too)", (int)vk_stop_signal, domname);
    return -1;
  }
  struct vk_disk_move move = {
    .target = disk, .from = p->above ? active : p->top, .to = p->above ? active : p->base,
  };
  if (p->above && vk_commit_rebase(p->above, p->base) < 0)
    return -1;
  vk_test_hook("switch-images");
  if (switch_definition(dom, 1, &move) < 0)
    return -1;
  vk_test_hook("define");
  if (journal_remove(uuid) < 0)
    return -1;
  if (vk_stop_signal)
    vk_warn("signal %d came too late to stop the commit: it is complete",
            (int)vk_stop_signal);
  return 0;
}

/* Plan and carry out the commit of TOP into BASE on disk DISK of DOM
 * (domain UUID), whose host lock the caller holds.
 */
static int
commit_locked(virDomainPtr dom, const char *uuid, const char *disk, const char *top,
              const char *base, struct vk_imageop_result *res)
{
  CLEANUP_DISKS struct vk_disks disks = { 0 };
  if (vk_domain_disks(dom, VIR_DOMAIN_XML_INACTIVE, &disks) < 0)
    return -1;
  const struct vk_disk *d = qcow2_disk(&disks, virDomainGetName(dom), disk);
  struct vk_commit_plan p;
  if (!d || vk_commit_plan_make(d->source, top, base, &p) < 0)
    return -1;
  int r = commit_run(dom, uuid, disk, d->source, &p, res);
  vk_commit_plan_clear(&p);
  return r;
}

/* vk_commit_domain under its catch of the stop signals. */
static int
commit_domain_caught(virDomainPtr dom, const char *disk, const char *top, const char *base,
                     struct vk_imageop_result *res)
{
  memset(res, 0, sizeof *res);
  res->kind = "commit";
  char uuid[VIR_UUID_STRING_BUFLEN];
  int lock = -1;
  int b = domain_begin(dom, "commit", uuid, &lock, res);
  int r = -1;
  if (b > 0)
    r = resumed_as_asked(res, virDomainGetName(dom), "commit", NULL, NULL, disk, top);
  else if (b == 0)
    r = commit_locked(dom, uuid, disk, top, base, res);
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

/* ---- other domains ---- */

/* Whether image file WANT is in the backing chain of a file disk of DOM:
 * its name in *OTHER then.
 */
static bool
in_chain_of(virDomainPtr dom, const struct stat *want, char **other)
{
  CLEANUP_DISKS struct vk_disks disks = { 0 };
  if (vk_domain_disks(dom, VIR_DOMAIN_XML_INACTIVE, &disks) < 0)
    return false;
  for (size_t k = 0; k < disks.n; k++) {
    const struct vk_disk *d = &disks.disk[k];
    if (!d->source || !d->type || strcmp(d->type, "file") != 0)
      continue;
    CLEANUP_CHAIN struct vk_chain chain = { 0 };
    char *err = NULL;
    int opened = vk_chain_open(d->source, d->format ? d->format : "raw", &chain, &err);
    free(err);
    for (size_t j = 0; opened == 0 && j < chain.nr_images; j++) {
      struct stat st;
      if (stat(chain.images[j].filename, &st) == 0 && st.st_dev == want->st_dev &&
          st.st_ino == want->st_ino) {
        const char *name = virDomainGetName(dom);
        *other = vk_xstrdup(name ? name : "?");
        return true;
      }
    }
  }
  return false;
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
    if (r == 0 && virDomainGetUUID(doms[i], u) == 0 && memcmp(u, uuid, sizeof u) != 0 &&
        in_chain_of(doms[i], &want, other))
      r = 1;
    virDomainFree(doms[i]);
  }
  free(doms);
  return r;
}
