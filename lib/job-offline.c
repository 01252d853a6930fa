/* vckpt - the offline job: a shut-off domain's disks copied by a
 * qemu-storage-daemon vckpt starts and drives over QMP (qmp.c), the same
 * block job QEMU runs for a live backup.  Why this mechanism, and which
 * window remains: HACKING.md, "The offline job".
 *
 *   start  open each disk's chain read-only (qsd takes QEMU's image locks:
 *          a domain cannot start meanwhile, and a domain that started
 *          first makes this fail), check the domain is still shut off,
 *          merge the checkpoint's bitmap across the contiguous run of
 *          images carrying it from the top into a temporary bitmap, open
 *          the targets (no backing: unallocated stays unallocated) and
 *          start one blockdev-backup per disk.  The point in time lasts
 *          from here to the end: the images are locked read-only.
 *   wait   follow the jobs; once all are done, redefine the new
 *          checkpoint in libvirt (libvirt 9.0 cannot create one for an
 *          inactive domain), then reopen the top images read-write just
 *          long enough to add its persistent bitmap, back read-only (which
 *          stores the bitmaps cleanly), then let the daemon quit and check
 *          the bitmaps in the files.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <libxml/parser.h>

#include "backup.h"
#include "checkpoint-xml.h"
#include "checkpoint.h"
#include "fileio.h"
#include "flow.h"
#include "job.h"
#include "process.h"
#include "qcow2.h"
#include "qmp.h"
#include "testhook.h"
#include "util.h"
#include "virt.h"
#include "xml.h"

#define CMD_MS 60000            /* time limit of one QMP command */
#define TMP_BITMAP "vckpt-offline-tmp"

/* One disk of the job. */
struct odisk {
  const struct vk_job_disk *jd;
  char *source;                 /* top image */
  struct vk_chain chain;        /* [0] top */
  bool incremental;             /* copies the changes since spec->incremental */
  bool track;                   /* gets the new checkpoint's bitmap */
  char *since_bitmap;           /* bitmap of spec->incremental in this disk */
  bool started, done, added;
  char *error;                  /* the block job failed */
  uint64_t len;
};

struct offline {
  struct odisk *d;
  size_t n;
  struct vk_qmp *q;
  char *ck_name;                /* the new checkpoint */
  double start;
  struct vk_writeback wb;       /* of the targets (fileio.h) */
};

static double
now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* qemu-storage-daemon, next to the configured qemu-img. */
static char *
qsd_path(void)
{
  const char *slash = strrchr(QEMU_IMG, '/');
  return vk_xasprintf("%.*sqemu-storage-daemon", slash ? (int)(slash - QEMU_IMG + 1) : 0,
                      QEMU_IMG);
}

static char *
node(size_t disk, size_t layer, bool file)
{
  return vk_xasprintf("vk%zu-%zu%s", disk, layer, file ? "f" : "");
}

static void
odisks_free(struct offline *o)
{
  for (size_t i = 0; i < o->n; i++) {
    free(o->d[i].source);
    free(o->d[i].since_bitmap);
    free(o->d[i].error);
    vk_chain_clear(&o->d[i].chain);
  }
  free(o->d);
  o->d = NULL;
  o->n = 0;
}

/* Read each disk's chain (with vckpt's own qcow2 reader) and decide how
 * it is copied.  -1 after reporting.
 */
static int
load_disks(struct vk_job *job, struct offline *o)
{
  const struct vk_job_spec *s = &job->spec;
  CLEANUP_DISKS struct vk_disks all = { 0 };
  if (vk_domain_disks(s->dom, VIR_DOMAIN_XML_INACTIVE, &all) < 0)
    return -1;
  struct vk_ckpt ck = { 0 }, since = { 0 };
  if (s->checkpoint_xml && vk_ckpt_parse(s->checkpoint_xml, "checkpoint XML", &ck) < 0)
    return -1;
  o->ck_name = ck.name ? vk_xstrdup(ck.name) : NULL;
  if (s->incremental) {
    CLEANUP_CHECKPOINT virDomainCheckpointPtr c = vk_checkpoint_lookup(s->dom, s->incremental);
    if (!c || vk_ckpt_get(c, false, &since) < 0) {
      vk_ckpt_clear(&ck);
      return -1;
    }
  }
  o->d = vk_xcalloc(s->n, sizeof *o->d);
  o->n = s->n;
  int r = 0;
  for (size_t i = 0; i < s->n && r == 0; i++) {
    struct odisk *d = &o->d[i];
    d->jd = &s->disks[i];
    const struct vk_disk *vd = vk_disks_find(&all, d->jd->target);
    if (!vd || !vd->source || strcmp(vd->type, "file") != 0) {
      vk_error(VK_EXIT_FAILURE, "disk %s: an offline backup reads image files only (type "
               "'%s')", d->jd->target, vd ? vd->type : "?");
      r = -1;
      break;
    }
    d->source = vk_xstrdup(vd->source);
    CLEANUP_FREE char *err = NULL;
    if (vk_chain_open(vd->source, vd->format ? vd->format : "raw", &d->chain, &err) < 0) {
      vk_error(VK_EXIT_FAILURE, "disk %s: %s", d->jd->target, err ? err : "cannot read");
      r = -1;
      break;
    }
    for (size_t k = 0; k < d->chain.nr_images && r == 0; k++) {
      enum vk_image_format f = d->chain.images[k].format;
      if ((f != VK_FMT_QCOW2 && f != VK_FMT_RAW) || d->chain.images[k].data_file) {
        vk_error(VK_EXIT_FAILURE, "disk %s: image %s has format %s: an offline backup reads "
                 "qcow2 and raw images only", d->jd->target, d->chain.images[k].filename,
                 d->chain.images[k].format_name);
        r = -1;
      } else if (k > 0 && d->chain.images[k].format_probed) {
        /* A guessed format lets a guest that wrote a qcow2 header into its
         * raw disk make the backup read any host file as "backing" data.
         */
        vk_error(VK_EXIT_FAILURE, "disk %s: %s names its backing file %s without a format, "
                 "and vckpt never guesses one; record it with qemu-img rebase -u -F FORMAT "
                 "-b %s %s", d->jd->target, d->chain.images[k - 1].filename,
                 d->chain.images[k].filename, d->chain.images[k].filename,
                 d->chain.images[k - 1].filename);
        r = -1;
      }
    }
    if (r == 0 && d->chain.end != VK_CHAIN_COMPLETE) {
      vk_error(VK_EXIT_FAILURE, "disk %s: the backing chain of %s cannot be followed (%s)",
               d->jd->target, vd->source, d->chain.end_detail ? d->chain.end_detail
               : vk_chain_end_name(d->chain.end));
      r = -1;
    }
    bool qcow2 = r == 0 && d->chain.images[0].format == VK_FMT_QCOW2;
    for (size_t j = 0; j < ck.nr_disks; j++)
      if (ck.disks[j].bitmap && strcmp(ck.disks[j].name, d->jd->target) == 0)
        d->track = true;
    if (d->track && !qcow2) {
      vk_error(VK_EXIT_FAILURE, "disk %s: a checkpoint bitmap needs a qcow2 image",
               d->jd->target);
      r = -1;
    }
    if (r == 0 && s->incremental && !d->jd->whole) {
      d->incremental = true;
      for (size_t j = 0; j < since.nr_disks; j++)
        if (since.disks[j].bitmap && strcmp(since.disks[j].name, d->jd->target) == 0)
          d->since_bitmap = vk_xstrdup(since.disks[j].bitmap_name);
      if (!d->since_bitmap || !qcow2) {
        vk_error(VK_EXIT_FAILURE, "disk %s: checkpoint '%s' has no bitmap for it",
                 d->jd->target, s->incremental);
        r = -1;
      }
    }
  }
  /* Every disk the checkpoint tracks must be in the job. */
  for (size_t j = 0; r == 0 && j < ck.nr_disks; j++) {
    bool in = !ck.disks[j].bitmap;
    for (size_t i = 0; i < o->n && !in; i++)
      in = strcmp(o->d[i].jd->target, ck.disks[j].name) == 0;
    if (!in) {
      vk_error(VK_EXIT_FAILURE, "disk %s: the checkpoint tracks it but the backup leaves it "
               "out", ck.disks[j].name);
      r = -1;
    }
  }
  vk_ckpt_clear(&ck);
  vk_ckpt_clear(&since);
  return r;
}

static int
offline_prepare(struct vk_job *job)
{
  struct offline *o = vk_xcalloc(1, sizeof *o);
  job->priv = o;
  if (load_disks(job, o) < 0)
    return -1;
  for (size_t i = 0; i < o->n; i++) {
    if (vk_stop_signal)
      return 1;
    struct vk_job_disk jd = *o->d[i].jd;
    if (jd.size == 0)   /* libvirt did not say: the image does */
      jd.size = o->d[i].chain.images[0].virtual_size;
    if (vk_target_create(&jd) < 0)
      return -1;
  }
  return 0;
}

/* What a dry run shows: the same <domainbackup> as a push job (what is
 * copied where); qemu-storage-daemon runs it.
 */
static char *
offline_describe(struct vk_job *job)
{
  xmlDocPtr doc = vk_backup_xml(job->spec.incremental, job->spec.disks, job->spec.n,
                                job->spec.all);
  xmlNodePtr root = xmlDocGetRootElement(doc);
  xmlAddPrevSibling(root, xmlNewDocComment(doc, (const xmlChar *)
                    " offline: run by qemu-storage-daemon on the shut-off domain's images "));
  char *xml = vk_xml_format(doc);
  xmlFreeDoc(doc);
  return xml;
}

/* Run a QMP command; on failure report "WHAT: error" with CODE. */
static int
qmp(struct offline *o, int code, const char *what, const char *cmd, json_object *args,
    json_object **ret)
{
  CLEANUP_FREE char *err = NULL;
  if (vk_qmp_execute(o->q, cmd, args, CMD_MS, ret, &err) == 0)
    return 0;
  vk_error(code, "%s: %s", what, err);
  return -1;
}

static json_object *
jstr(const char *s)
{
  return json_object_new_string(s);
}

/* blockdev-add the chain of disk I, bottom first, read-only. */
static int
add_chain(struct vk_job *job, struct offline *o, size_t i)
{
  struct odisk *d = &o->d[i];
  for (size_t k = d->chain.nr_images; k-- > 0;) {
    const struct vk_image *img = &d->chain.images[k];
    CLEANUP_FREE char *fn = node(i, k, true);
    CLEANUP_FREE char *fmt = node(i, k, false);
    json_object *a = json_object_new_object();
    json_object_object_add(a, "driver", jstr("file"));
    json_object_object_add(a, "node-name", jstr(fn));
    json_object_object_add(a, "filename", jstr(img->filename));
    json_object_object_add(a, "read-only", json_object_new_boolean(1));
    json_object_object_add(a, "locking", jstr("on"));
    CLEANUP_FREE char *err = NULL;
    int r = vk_qmp_execute(o->q, "blockdev-add", a, CMD_MS, NULL, &err);
    if (r == 0) {
      a = json_object_new_object();
      json_object_object_add(a, "driver", jstr(img->format == VK_FMT_QCOW2 ? "qcow2" : "raw"));
      json_object_object_add(a, "node-name", jstr(fmt));
      json_object_object_add(a, "file", jstr(fn));
      json_object_object_add(a, "read-only", json_object_new_boolean(1));
      CLEANUP_FREE char *below = k + 1 < d->chain.nr_images ? node(i, k + 1, false) : NULL;
      if (img->format == VK_FMT_QCOW2)
        json_object_object_add(a, "backing", below ? jstr(below) : NULL);
      r = vk_qmp_execute(o->q, "blockdev-add", a, CMD_MS, NULL, &err);
    }
    if (r < 0) {
      if (vk_domain_is_active(job->spec.dom))
        vk_error(VK_EXIT_BUSY, "domain '%s' started during the backup (%s); nothing was "
                 "changed", virDomainGetName(job->spec.dom), err);
      else
        vk_error(VK_EXIT_FAILURE, "disk %s: cannot open %s read-only: %s", d->jd->target,
                 img->filename, err);
      return -1;
    }
  }
  return 0;
}

/* The bitmaps qsd sees on NODE (query-named-block-nodes), a new reference. */
static json_object *
node_bitmaps(struct offline *o, const char *name)
{
  json_object *a = json_object_new_object();
  json_object_object_add(a, "flat", json_object_new_boolean(1));
  CLEANUP_JSON json_object *ret = NULL;
  if (qmp(o, VK_EXIT_FAILURE, "query-named-block-nodes", "query-named-block-nodes", a,
          &ret) < 0)
    return NULL;
  for (size_t i = 0; i < json_object_array_length(ret); i++) {
    json_object *n = json_object_array_get_idx(ret, i), *v = NULL;
    if (json_object_object_get_ex(n, "node-name", &v) &&
        strcmp(json_object_get_string(v), name) == 0) {
      json_object *b = NULL;
      if (json_object_object_get_ex(n, "dirty-bitmaps", &b))
        return json_object_get(b);
      return json_object_new_array();
    }
  }
  return json_object_new_array();
}

/* The bitmap called NAME in the list BITMAPS, or NULL. */
static json_object *
find_bitmap(json_object *bitmaps, const char *name)
{
  for (size_t i = 0; bitmaps && i < json_object_array_length(bitmaps); i++) {
    json_object *b = json_object_array_get_idx(bitmaps, i), *v = NULL;
    if (json_object_object_get_ex(b, "name", &v) && strcmp(json_object_get_string(v), name) == 0)
      return b;
  }
  return NULL;
}

static bool
flag(json_object *o, const char *key)
{
  json_object *v = NULL;
  return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

/* For an incremental disk: the temporary bitmap, the merge of the
 * checkpoint's bitmap in every image of the contiguous run from the top
 * that carries it (what libvirt does for a live domain).
 */
static int
merge_since(struct offline *o, size_t i)
{
  struct odisk *d = &o->d[i];
  CLEANUP_FREE char *top = node(i, 0, false);
  json_object *sources = json_object_new_array();
  int64_t gran = 0;
  for (size_t k = 0; k < d->chain.nr_images; k++) {
    CLEANUP_FREE char *n = node(i, k, false);
    CLEANUP_JSON json_object *bm = node_bitmaps(o, n);
    if (!bm) {                  /* reported: never a partial merge */
      json_object_put(sources);
      return -1;
    }
    json_object *b = find_bitmap(bm, d->since_bitmap), *v = NULL;
    if (!b)
      break;
    if (flag(b, "inconsistent") || !flag(b, "recording")) {
      vk_error(VK_EXIT_FAILURE, "disk %s: bitmap '%s' in %s is %s: an incremental backup "
               "from it would miss data", d->jd->target, d->since_bitmap,
               d->chain.images[k].filename, flag(b, "inconsistent") ? "inconsistent"
               : "not recording");
      json_object_put(sources);
      return -1;
    }
    if (k == 0 && json_object_object_get_ex(b, "granularity", &v))
      gran = json_object_get_int64(v);
    json_object *src = json_object_new_object();
    json_object_object_add(src, "node", jstr(n));
    json_object_object_add(src, "name", jstr(d->since_bitmap));
    json_object_array_add(sources, src);
  }
  if (json_object_array_length(sources) == 0) {
    vk_error(VK_EXIT_FAILURE, "disk %s: bitmap '%s' of checkpoint '%s' is not in %s",
             d->jd->target, d->since_bitmap, d->since_bitmap, d->source);
    json_object_put(sources);
    return -1;
  }
  json_object *a = json_object_new_object();
  json_object_object_add(a, "node", jstr(top));
  json_object_object_add(a, "name", jstr(TMP_BITMAP));
  json_object_object_add(a, "persistent", json_object_new_boolean(0));
  json_object_object_add(a, "disabled", json_object_new_boolean(1));
  if (gran > 0)
    json_object_object_add(a, "granularity", json_object_new_int64(gran));
  CLEANUP_FREE char *what = vk_xasprintf("disk %s: temporary bitmap", d->jd->target);
  if (qmp(o, VK_EXIT_FAILURE, what, "block-dirty-bitmap-add", a, NULL) < 0) {
    json_object_put(sources);
    return -1;
  }
  a = json_object_new_object();
  json_object_object_add(a, "node", jstr(top));
  json_object_object_add(a, "target", jstr(TMP_BITMAP));
  json_object_object_add(a, "bitmaps", sources);
  return qmp(o, VK_EXIT_FAILURE, what, "block-dirty-bitmap-merge", a, NULL);
}

/* The cache options of a target node: QEMU's flushes while it allocates
 * clusters in an empty qcow2 file (a dozen per 64 MiB) are skipped; the
 * commit fsyncs every file of the backup before the manifest lists it, so
 * a crash before that never leaves a backup that looks complete.
 */
static json_object *
no_flush(void)
{
  json_object *c = json_object_new_object();
  json_object_object_add(c, "no-flush", json_object_new_boolean(1));
  return c;
}

/* blockdev-add the target of disk I: the qcow2 file prepare created,
 * without its backing file (unallocated clusters stay unallocated).
 */
static int
add_target(struct offline *o, size_t i)
{
  struct odisk *d = &o->d[i];
  CLEANUP_FREE char *fn = vk_xasprintf("vk%zu-tf", i);
  CLEANUP_FREE char *tn = vk_xasprintf("vk%zu-t", i);
  CLEANUP_FREE char *what = vk_xasprintf("disk %s: cannot open the target %s", d->jd->target,
                                         d->jd->file);
  json_object *a = json_object_new_object();
  json_object_object_add(a, "driver", jstr("file"));
  json_object_object_add(a, "node-name", jstr(fn));
  json_object_object_add(a, "filename", jstr(d->jd->file));
  json_object_object_add(a, "cache", no_flush());
  if (qmp(o, VK_EXIT_FAILURE, what, "blockdev-add", a, NULL) < 0)
    return -1;
  a = json_object_new_object();
  json_object_object_add(a, "driver", jstr("qcow2"));
  json_object_object_add(a, "node-name", jstr(tn));
  json_object_object_add(a, "file", jstr(fn));
  json_object_object_add(a, "backing", NULL);
  json_object_object_add(a, "cache", no_flush());
  return qmp(o, VK_EXIT_FAILURE, what, "blockdev-add", a, NULL);
}

static char *
job_id(size_t i)
{
  return vk_xasprintf("vk-backup-%zu", i);
}

static int
offline_start(struct vk_job *job)
{
  struct offline *o = job->priv;
  const struct vk_job_spec *s = &job->spec;
  const char *domname = virDomainGetName(s->dom);
  vk_test_hook("offline-before-job");
  if (vk_stop_signal) {
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d before the backup started",
             (int)vk_stop_signal);
    return -1;
  }
  CLEANUP_FREE char *qsd = qsd_path();
  o->q = vk_qmp_start(qsd);
  if (!o->q)
    return -1;
  o->start = now();
  for (size_t i = 0; i < o->n; i++)
    if (add_chain(job, o, i) < 0)
      return -1;
  /* The images are locked now: a domain that started before cannot be
   * writing them (opening would have failed), one that starts now fails.
   * libvirt must agree that it is shut off.
   */
  if (vk_domain_is_active(s->dom)) {
    vk_error(VK_EXIT_BUSY, "domain '%s' started during the backup; nothing was changed",
             domname);
    return -1;
  }
  for (size_t i = 0; i < o->n; i++) {
    struct odisk *d = &o->d[i];
    if (d->track && o->ck_name) {
      CLEANUP_FREE char *top = node(i, 0, false);
      CLEANUP_JSON json_object *bm = node_bitmaps(o, top);
      if (!bm)
        return -1;
      if (find_bitmap(bm, o->ck_name)) {
        vk_error(VK_EXIT_FAILURE, "disk %s: %s already has a bitmap '%s' (one no checkpoint "
                 "uses: vckpt validate reports it); nothing was changed", d->jd->target,
                 d->source, o->ck_name);
        return -1;
      }
    }
    if ((d->incremental && merge_since(o, i) < 0) || add_target(o, i) < 0)
      return -1;
  }
  for (size_t i = 0; i < o->n; i++) {
    struct odisk *d = &o->d[i];
    CLEANUP_FREE char *id = job_id(i);
    CLEANUP_FREE char *top = node(i, 0, false);
    CLEANUP_FREE char *tn = vk_xasprintf("vk%zu-t", i);
    json_object *a = json_object_new_object();
    json_object_object_add(a, "job-id", jstr(id));
    json_object_object_add(a, "device", jstr(top));
    json_object_object_add(a, "target", jstr(tn));
    json_object_object_add(a, "sync", jstr(d->incremental ? "incremental" : "full"));
    if (d->incremental)
      json_object_object_add(a, "bitmap", jstr(TMP_BITMAP));
    /* A zstd target (vk_target_create): every cluster the job copies is
     * written compressed (zeros stay zero clusters).
     */
    if (d->jd->compress)
      json_object_object_add(a, "compress", json_object_new_boolean(1));
    CLEANUP_FREE char *what = vk_xasprintf("disk %s: cannot start the backup", d->jd->target);
    if (qmp(o, VK_EXIT_FAILURE, what, "blockdev-backup", a, NULL) < 0)
      return -1;
    d->started = true;
  }
  const char **files = vk_xcalloc(o->n + 1, sizeof *files);
  for (size_t i = 0; i < o->n; i++)
    files[i] = o->d[i].jd->file;
  vk_writeback_open(&o->wb, files, o->n);
  free(files);
  vk_test_hook("offline-copying");
  return 0;
}

static int
offline_abort(struct vk_job *job)
{
  struct offline *o = job->priv;
  int r = 0;
  for (size_t i = 0; o && o->q && i < o->n; i++) {
    if (!o->d[i].started || o->d[i].done)
      continue;
    CLEANUP_FREE char *id = job_id(i);
    CLEANUP_FREE char *err = NULL;
    json_object *a = json_object_new_object();
    json_object_object_add(a, "device", jstr(id));
    json_object_object_add(a, "force", json_object_new_boolean(1));
    if (vk_qmp_execute(o->q, "block-job-cancel", a, CMD_MS, NULL, &err) < 0) {
      vk_debug("abort %s: %s", id, err);
      r = -1;
    }
  }
  return r;
}

/* An event about one of our jobs: mark it done (with its error). */
static void
on_event(struct offline *o, json_object *ev)
{
  json_object *v = NULL, *data = NULL;
  if (!json_object_object_get_ex(ev, "event", &v))
    return;
  const char *name = json_object_get_string(v);
  bool completed = strcmp(name, "BLOCK_JOB_COMPLETED") == 0;
  if ((!completed && strcmp(name, "BLOCK_JOB_CANCELLED") != 0) ||
      !json_object_object_get_ex(ev, "data", &data) ||
      !json_object_object_get_ex(data, "device", &v))
    return;
  for (size_t i = 0; i < o->n; i++) {
    CLEANUP_FREE char *id = job_id(i);
    if (strcmp(id, json_object_get_string(v)) != 0)
      continue;
    struct odisk *d = &o->d[i];
    d->done = true;
    json_object *e = NULL, *len = NULL;
    if (json_object_object_get_ex(data, "len", &len))
      d->len = json_object_get_int64(len);
    if (json_object_object_get_ex(data, "error", &e))
      d->error = vk_xasprintf("disk %s: %s", d->jd->target, json_object_get_string(e));
    else if (!completed)
      d->error = vk_xasprintf("disk %s: cancelled", d->jd->target);
  }
}

/* Progress of the running jobs. */
static void
progress(struct offline *o, const struct vk_flow_cb *cb)
{
  CLEANUP_JSON json_object *ret = NULL;
  CLEANUP_FREE char *err = NULL;
  if (vk_qmp_execute(o->q, "query-block-jobs", NULL, CMD_MS, &ret, &err) < 0)
    return;
  uint64_t done = 0, total = 0;
  for (size_t i = 0; i < o->n; i++)
    if (o->d[i].done)
      done += o->d[i].len, total += o->d[i].len;
  for (size_t i = 0; i < json_object_array_length(ret); i++) {
    json_object *j = json_object_array_get_idx(ret, i), *v = NULL;
    if (json_object_object_get_ex(j, "offset", &v))
      done += json_object_get_int64(v);
    if (json_object_object_get_ex(j, "len", &v))
      total += json_object_get_int64(v);
  }
  vk_flow_progress(cb, done, total, now() - o->start, false);
}

/* The options of the top nodes of the tracked disks for blockdev-reopen. */
static json_object *
reopen_options(struct offline *o, bool rw)
{
  json_object *opts = json_object_new_array();
  for (size_t i = 0; i < o->n; i++) {
    struct odisk *d = &o->d[i];
    if (!d->track)
      continue;
    CLEANUP_FREE char *fn = node(i, 0, true);
    CLEANUP_FREE char *fmt = node(i, 0, false);
    json_object *f = json_object_new_object();
    json_object_object_add(f, "driver", jstr("file"));
    json_object_object_add(f, "node-name", jstr(fn));
    json_object_object_add(f, "filename", jstr(d->chain.images[0].filename));
    json_object_object_add(f, "read-only", json_object_new_boolean(!rw));
    json_object_object_add(f, "locking", jstr("on"));
    json_object *q = json_object_new_object();
    json_object_object_add(q, "driver", jstr("qcow2"));
    json_object_object_add(q, "node-name", jstr(fmt));
    json_object_object_add(q, "file", jstr(fn));
    json_object_object_add(q, "read-only", json_object_new_boolean(!rw));
    CLEANUP_FREE char *below = d->chain.nr_images > 1 ? node(i, 1, false) : NULL;
    json_object_object_add(q, "backing", below ? jstr(below) : NULL);
    /* Read-write: the file first; read-only: the qcow2 node first. */
    json_object_array_add(opts, rw ? f : q);
    json_object_array_add(opts, rw ? q : f);
  }
  json_object *a = json_object_new_object();
  json_object_object_add(a, "options", opts);
  return a;
}

/* Add the new checkpoint's persistent bitmap to the top image of every
 * tracked disk: read-write only for this, then read-only again, which
 * stores the bitmaps in the files.  *WHY on failure (nothing reported).
 */
static int
add_bitmaps(struct offline *o, const struct vk_flow_cb *cb, char **why)
{
  bool any = false;
  for (size_t i = 0; i < o->n; i++)
    any |= o->d[i].track;
  if (!any)
    return 0;
  double t0 = now();
  CLEANUP_FREE char *err = NULL;
  if (vk_qmp_execute(o->q, "blockdev-reopen", reopen_options(o, true), CMD_MS, NULL, &err) < 0) {
    *why = vk_xasprintf("cannot reopen the images read-write to add bitmap '%s': %s",
                        o->ck_name, err);
    return -1;
  }
  int r = 0;
  for (size_t i = 0; i < o->n && r == 0; i++) {
    if (!o->d[i].track)
      continue;
    CLEANUP_FREE char *top = node(i, 0, false);
    json_object *a = json_object_new_object();
    json_object_object_add(a, "node", jstr(top));
    json_object_object_add(a, "name", jstr(o->ck_name));
    json_object_object_add(a, "persistent", json_object_new_boolean(1));
    free(err);
    err = NULL;
    if (vk_qmp_execute(o->q, "block-dirty-bitmap-add", a, CMD_MS, NULL, &err) == 0)
      o->d[i].added = true;
    else {
      *why = vk_xasprintf("disk %s: cannot add bitmap '%s': %s", o->d[i].jd->target,
                          o->ck_name, err);
      r = -1;
    }
  }
  vk_test_hook("offline-read-write");
  /* On failure, take back what was added before going read-only. */
  for (size_t i = 0; r < 0 && i < o->n; i++) {
    if (!o->d[i].added)
      continue;
    CLEANUP_FREE char *top = node(i, 0, false);
    json_object *a = json_object_new_object();
    json_object_object_add(a, "node", jstr(top));
    json_object_object_add(a, "name", jstr(o->ck_name));
    free(err);
    err = NULL;
    if (vk_qmp_execute(o->q, "block-dirty-bitmap-remove", a, CMD_MS, NULL, &err) == 0)
      o->d[i].added = false;
  }
  free(err);
  err = NULL;
  if (vk_qmp_execute(o->q, "blockdev-reopen", reopen_options(o, false), CMD_MS, NULL, &err) < 0
      && r == 0) {
    *why = vk_xasprintf("cannot reopen the images read-only after adding bitmap '%s': %s",
                        o->ck_name, err);
    r = -1;
  }
  vk_flow_message(cb, VK_MSG_DEBUG, "top images read-write for %.1f ms", (now() - t0) * 1000);
  return r;
}

/* The <domaincheckpoint> to redefine: the job's, with the parent (the
 * newest checkpoint, which libvirt would have made the parent), the
 * creation time and each tracked disk's bitmap name, which REDEFINE needs.
 */
static char *
redefine_xml(virDomainPtr dom, const char *xml, const char *name)
{
  struct vk_ckpt_list l = { 0 };
  if (vk_ckpt_list_all(dom, 0, &l) < 0)
    return NULL;
  CLEANUP_FREE char *parent = l.n ? vk_xstrdup(l.c[l.n - 1].name) : NULL;
  vk_ckpt_list_clear(&l);
  CLEANUP_XMLDOC xmlDocPtr doc = vk_xml_parse(xml, "checkpoint XML");
  if (!doc)
    return NULL;
  xmlNodePtr root = xmlDocGetRootElement(doc);
  if (parent) {
    xmlNodePtr p = xmlNewChild(root, NULL, (const xmlChar *)"parent", NULL);
    vk_xml_add_text(p, "name", parent);
  }
  char stamp[32];
  snprintf(stamp, sizeof stamp, "%lld", (long long)time(NULL));
  vk_xml_add_text(root, "creationTime", stamp);
  CLEANUP_XPATHCTX xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  CLEANUP_XPATHOBJ xmlXPathObjectPtr disks =
    vk_xpath_nodes(ctx, NULL, "/domaincheckpoint/disks/disk[@checkpoint='bitmap']");
  for (int i = 0; i < vk_xpath_count(disks); i++)
    xmlSetProp(disks->nodesetval->nodeTab[i], (const xmlChar *)"bitmap", (const xmlChar *)name);
  return vk_xml_format(doc);
}

/* After the copy: the checkpoint in libvirt, then its bitmaps.  *WHY on
 * failure; what was done is undone by the flow's rollback (the checkpoint
 * carries the backup's identity; its bitmaps go with it).
 */
static int
finish(struct vk_job *job, struct offline *o, const struct vk_flow_cb *cb, char **why)
{
  const struct vk_job_spec *s = &job->spec;
  if (!s->checkpoint_xml)
    return 0;
  CLEANUP_FREE char *xml = redefine_xml(s->dom, s->checkpoint_xml, o->ck_name);
  if (!xml) {
    *why = vk_xstrdup("cannot build the checkpoint to redefine");
    return -1;
  }
  vk_flow_message(cb, VK_MSG_DEBUG, "redefining checkpoint:\n%s", xml);
  virDomainCheckpointPtr c = virDomainCheckpointCreateXML(s->dom, xml,
                                                          VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE);
  if (!c) {
    *why = vk_xasprintf("cannot define checkpoint '%s': %s", o->ck_name,
                        vk_virt_last_message());
    return -1;
  }
  virDomainCheckpointFree(c);
  return add_bitmaps(o, cb, why);
}

/* After the daemon quit: the new bitmap is in each tracked top image,
 * recording and stored cleanly (not in use).
 */
static int
check_bitmaps(struct offline *o, char **why)
{
  for (size_t i = 0; i < o->n; i++) {
    if (!o->d[i].track)
      continue;
    struct vk_image img = { 0 };
    CLEANUP_FREE char *err = NULL;
    if (vk_image_open(o->d[i].source, "qcow2", &img, &err) < 0) {
      *why = vk_xasprintf("cannot read %s after the backup: %s", o->d[i].source, err);
      return -1;
    }
    const struct vk_bitmap *b = vk_image_find_bitmap(&img, o->ck_name);
    if (!b || b->in_use || !b->enabled || b->problem)
      *why = vk_xasprintf("bitmap '%s' in %s is %s after the backup", o->ck_name,
                          o->d[i].source, !b ? "missing" : b->in_use ? "in use"
                          : !b->enabled ? "not recording" : b->problem);
    vk_image_clear(&img);
    if (*why)
      return -1;
  }
  return 0;
}

static int
offline_wait(struct vk_job *job, const struct vk_flow_cb *cb, struct vk_job_result *res)
{
  struct offline *o = job->priv;
  memset(res, 0, sizeof *res);
  double last = 0;
  char *error = NULL;
  for (;;) {
    bool pending = false;
    for (size_t i = 0; i < o->n; i++)
      pending |= !o->d[i].done;
    if (!pending)
      break;
    if (vk_stop_signal && !res->interrupted) {
      res->interrupted = true;
      offline_abort(job);
    }
    bool gone = false;
    json_object *ev = vk_qmp_event(o->q, 50, &gone);
    vk_writeback_kick(&o->wb);
    if (ev) {
      on_event(o, ev);
      json_object_put(ev);
    } else if (gone) {
      error = vk_qmp_exit_text(o->q);
      if (!error)
        error = vk_xstrdup("qemu-storage-daemon closed its monitor");
      break;
    }
    if (now() - last >= 0.5) {
      last = now();
      progress(o, cb);
    }
  }
  vk_flow_progress(cb, 0, 0, now() - o->start, true);
  for (size_t i = 0; i < o->n; i++) {
    res->bytes += o->d[i].len;
    if (!error && o->d[i].error)
      error = vk_xstrdup(o->d[i].error);
  }
  vk_test_hook("offline-copied");
  if (!error && !res->interrupted && vk_stop_signal)
    res->interrupted = true;
  if (!error && !res->interrupted && finish(job, o, cb, &error) == 0) {
    if (vk_qmp_stop(o->q, 30000) < 0)
      error = vk_xstrdup("qemu-storage-daemon did not quit cleanly");
    o->q = NULL;
    if (!error && check_bitmaps(o, &error) == 0)
      res->ok = true;
  }
  res->seconds = now() - o->start;
  if (!res->ok && !error)
    error = vk_xstrdup(res->interrupted ? "aborted" : "the backup job failed");
  res->error = error;
  return 0;
}

static void
offline_close(struct vk_job *job)
{
  struct offline *o = job->priv;
  if (!o)
    return;
  if (o->q)
    vk_qmp_stop(o->q, 10000);
  vk_writeback_close(&o->wb);
  odisks_free(o);
  free(o->ck_name);
  free(o);
  job->priv = NULL;
}

/* Whether process PID has one of FILES open: compared by device and inode,
 * since the repository's path may be spelled differently (a linked
 * directory, "..") from the name the process opened.
 */
static bool
holds(const char *pid, char *const *files)
{
  CLEANUP_FREE char *dir = vk_xasprintf("/proc/%s/fd", pid);
  DIR *d = opendir(dir);
  if (!d)
    return false;
  bool found = false;
  struct dirent *e;
  while (!found && (e = readdir(d))) {
    char path[PATH_MAX + 64];
    struct stat fst, st;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (e->d_name[0] == '.' || stat(path, &fst) < 0 || !S_ISREG(fst.st_mode))
      continue;
    /* lstat: a link planted in place of a journaled file must not point
     * at another run's target (that daemon would be stopped).
     */
    for (size_t i = 0; files && files[i] && !found; i++)
      found = lstat(files[i], &st) == 0 && S_ISREG(st.st_mode) && st.st_dev == fst.st_dev &&
              st.st_ino == fst.st_ino;
  }
  closedir(d);
  return found;
}

/* Whether process PID still runs (a zombie does not). */
static bool
running(pid_t pid)
{
  char path[64], buf[256];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "re");
  if (!f)
    return false;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *p = strrchr(buf, ')');
  return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* A qemu-storage-daemon a killed run left (it dies with vckpt, but one
 * could have been stopped or be slow to go): found by its open files.
 */
static int
offline_reclaim(const struct vk_job_spec *spec, char *const *files, const struct vk_flow_cb *cb)
{
  CLEANUP_FREE char *qsd = qsd_path();
  DIR *d = opendir("/proc");
  if (!d)
    return 0;
  int found = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    char exe[PATH_MAX];
    CLEANUP_FREE char *link = vk_xasprintf("/proc/%s/exe", e->d_name);
    ssize_t n = e->d_name[0] >= '1' && e->d_name[0] <= '9'
      ? readlink(link, exe, sizeof exe - 1) : -1;
    if (n <= 0)
      continue;
    exe[n] = '\0';
    if (strcmp(exe, qsd) != 0 || !holds(e->d_name, files))
      continue;
    pid_t pid = (pid_t)strtol(e->d_name, NULL, 10);
    vk_flow_message(cb, VK_MSG_WARNING, "stopping the qemu-storage-daemon (pid %d) an "
                    "interrupted vckpt run left", (int)pid);
    kill(pid, SIGTERM);
    kill(pid, SIGCONT);
    for (int i = 0; i < 300 && running(pid); i++)   /* up to 30 s */
      usleep(100000);
    if (running(pid))
      kill(pid, SIGKILL);
    found = 1;
  }
  closedir(d);
  return found;
}

int
vk_offline_remove_bitmaps(virDomainPtr dom, const char *name, char **why)
{
  CLEANUP_DISKS struct vk_disks all = { 0 };
  if (vk_domain_disks(dom, VIR_DOMAIN_XML_INACTIVE, &all) < 0) {
    *why = vk_xstrdup("cannot read the domain's disks");
    return -1;
  }
  int removed = 0;
  for (size_t i = 0; i < all.n; i++) {
    const struct vk_disk *d = &all.disk[i];
    if (!d->source || strcmp(d->type, "file") != 0 || !d->format ||
        strcmp(d->format, "qcow2") != 0)
      continue;
    /* From every image of the chain that has it (after an overlay, the
     * backing images carry the checkpoint's bitmap too), not only the top.
     */
    struct vk_chain chain = { 0 };
    CLEANUP_FREE char *err = NULL;
    if (vk_chain_open(d->source, "qcow2", &chain, &err) < 0)
      continue;
    for (size_t k = 0; k < chain.nr_images; k++) {
      const struct vk_image *img = &chain.images[k];
      if (img->format != VK_FMT_QCOW2 || !vk_image_find_bitmap(img, name))
        continue;
      char *argv[] = { (char *)QEMU_IMG, (char *)"bitmap", (char *)"-f", (char *)"qcow2",
                       (char *)"--remove", (char *)"--", img->filename, (char *)name, NULL };
      int status = 0;
      CLEANUP_FREE char *msg = NULL;
      if (vk_spawn(argv, -1, -1, &status, &msg) < 0 || !WIFEXITED(status) ||
          WEXITSTATUS(status) != 0) {
        *why = vk_xasprintf("cannot remove bitmap '%s' from %s: %s", name, img->filename,
                            msg && *msg ? msg : "qemu-img failed");
        vk_chain_clear(&chain);
        return -1;
      }
      removed++;
    }
    vk_chain_clear(&chain);
  }
  return removed;
}

const struct vk_job_ops vk_job_offline_ops = {
  .kind = "offline",
  .prepare = offline_prepare,
  .describe = offline_describe,
  .start = offline_start,
  .wait = offline_wait,
  .abort = offline_abort,
  .close = offline_close,
  .reclaim = offline_reclaim,
};
