/* vckpt - the preflight validator. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint-xml.h"
#include "fileio.h"
#include "imageop.h"
#include "meta.h"
#include "output.h"
#include "qcow2.h"
#include "util.h"
#include "validate.h"
#include "virt.h"

/* What the validator knows about one disk of the domain. */
struct disk_state {
  const struct vk_disk *disk;
  bool inspect;          /* a qcow2 (or raw) file we could open */
  struct vk_chain chain;
};

/* Everything one validation run reads once and shares. */
struct vstate {
  virDomainPtr dom;
  const char *domname;
  char *qdom;            /* domain name quoted for a shell command */
  bool running;
  char *remote;          /* the remote host the domain runs on, or NULL: local */
  struct vk_disks disks;
  struct disk_state *ds; /* parallel to disks */
  struct vk_ckpt_list ckpts;
  struct vk_ckpt *sized; /* running: checkpoints with live sizes, parallel */
  char **size_error;     /* running: why libvirt could not size one, parallel */
  struct vk_report *rep;
};

static char *
dup_or_null(const char *s)
{
  return s ? vk_xstrdup(s) : NULL;
}

void
vk_report_add(struct vk_report *rep, const char *code, enum vk_severity sev,
              const char *disk, const char *image, const char *bitmap,
              const char *checkpoint, char *message, char *action)
{
  const struct vk_finding_def *def = vk_finding_lookup(code);
  if (!def)
    vk_warn("internal error: finding '%s' is not in the catalogue", code);
  rep->f = vk_xrealloc(rep->f, (rep->n + 1) * sizeof *rep->f);
  rep->f[rep->n++] = (struct vk_finding) {
    .code = def ? def->code : code, .severity = sev,
    .fix = def ? def->fix : VK_FIX_NONE, .summary = def ? def->summary : NULL, .disk = dup_or_null(disk),
    .image = dup_or_null(image), .bitmap = dup_or_null(bitmap),
    .checkpoint = dup_or_null(checkpoint), .message = message, .action = action,
  };
  if (sev == VK_SEV_ERROR)
    rep->errors++;
  else if (sev == VK_SEV_WARNING)
    rep->warnings++;
}

void
vk_report_clear(struct vk_report *rep)
{
  for (size_t i = 0; i < rep->n; i++) {
    struct vk_finding *f = &rep->f[i];
    free(f->disk);
    free(f->image);
    free(f->bitmap);
    free(f->checkpoint);
    free(f->message);
    free(f->action);
  }
  free(rep->f);
  vk_strv_free(rep->whole);
  free(rep->domain);
  free(rep->checkpoint);
  memset(rep, 0, sizeof *rep);
}

void
vk_report_whole(struct vk_report *rep, const char *disk)
{
  if (rep->whole && vk_strv_contains(rep->whole, disk))
    return;
  size_t n = rep->whole ? vk_strv_len(rep->whole) : 0;
  rep->whole = vk_xrealloc(rep->whole, (n + 2) * sizeof *rep->whole);
  rep->whole[n] = vk_xstrdup(disk);
  rep->whole[n + 1] = NULL;
}

json_object *
vk_report_json(const struct vk_report *rep)
{
  json_object *o = json_object_new_object();
  json_object_object_add(o, "domain", vk_json_string(rep->domain));
  json_object_object_add(o, "checkpoint", vk_json_string(rep->checkpoint));
  json_object_object_add(o, "running", json_object_new_boolean(rep->running));
  json_object_object_add(o, "ok", json_object_new_boolean(rep->errors == 0));
  json_object_object_add(o, "errors", json_object_new_int64(rep->errors));
  json_object_object_add(o, "warnings", json_object_new_int64(rep->warnings));
  json_object *arr = json_object_new_array();
  for (size_t i = 0; i < rep->n; i++) {
    const struct vk_finding *f = &rep->f[i];
    json_object *j = json_object_new_object();
    json_object_object_add(j, "code", json_object_new_string(f->code));
    json_object_object_add(j, "severity", json_object_new_string(vk_severity_name(f->severity)));
    json_object_object_add(j, "disk", vk_json_string(f->disk));
    json_object_object_add(j, "image", vk_json_string(f->image));
    json_object_object_add(j, "bitmap", vk_json_string(f->bitmap));
    json_object_object_add(j, "checkpoint", vk_json_string(f->checkpoint));
    json_object_object_add(j, "message", vk_json_string(f->message));
    json_object_object_add(j, "action", vk_json_string(f->action));
    json_object_object_add(j, "fix", json_object_new_string(vk_fix_name(f->fix)));
    json_object_object_add(j, "summary", vk_json_string(f->summary));
    json_object_array_add(arr, j);
  }
  json_object_object_add(o, "findings", arr);
  json_object *w = json_object_new_array();
  for (size_t i = 0; rep->whole && rep->whole[i]; i++)
    json_object_array_add(w, json_object_new_string(rep->whole[i]));
  json_object_object_add(o, "whole", w);
  return o;
}

/* The libvirt checkpoint with this name, or NULL. */
static const struct vk_ckpt *
find_ckpt(const struct vstate *s, const char *name, size_t *index)
{
  for (size_t i = 0; i < s->ckpts.n; i++)
    if (strcmp(s->ckpts.c[i].name, name) == 0) {
      if (index)
        *index = i;
      return &s->ckpts.c[i];
    }
  return NULL;
}

/* The disk entry of checkpoint C for TARGET, or NULL. */
static const struct vk_ckpt_disk *
ckpt_disk(const struct vk_ckpt *c, const char *target)
{
  for (size_t i = 0; i < c->nr_disks; i++)
    if (strcmp(c->disks[i].name, target) == 0)
      return &c->disks[i];
  return NULL;
}

/* Running domain: libvirt could compute the checkpoint's size for this
 * disk, so QEMU has the bitmap live and consistent.
 */
static bool
live_ok(const struct vstate *s, size_t ci, const char *target)
{
  if (!s->running || !s->sized)
    return false;
  const struct vk_ckpt_disk *d = ckpt_disk(&s->sized[ci], target);
  return d && d->bitmap && d->size >= 0;
}

/* Running, but libvirt could not size checkpoint CI (its bitmap is in
 * images of different sizes on some disk, load()): QEMU's view is unknown,
 * so its disks are judged by their images, as for a shut-off domain.
 */
static bool
unsized(const struct vstate *s, size_t ci)
{
  return s->running && s->size_error && s->size_error[ci];
}

/* Read each disk's backing chain and report what is wrong with the images
 * whatever the backup level.
 */
static void
check_images(struct vstate *s, char *const *want)
{
  for (size_t i = 0; i < s->disks.n; i++) {
    const struct vk_disk *d = &s->disks.disk[i];
    struct disk_state *ds = &s->ds[i];
    ds->disk = d;
    if (strcmp(d->device, "disk") != 0 || d->readonly)
      continue;
    if (want && !vk_strv_contains(want, d->target))
      continue;
    if (s->remote) {
      /* Its images are on the other host: libvirt's and QEMU's live state
       * judge its bitmaps (check_live).
       */
      vk_report_add(s->rep, "disk-not-inspected", VK_SEV_INFO, d->target, d->source, NULL, NULL,
                    vk_xasprintf("the domain is on host '%s': its images are not read from "
                                 "here; QEMU's live bitmaps are judged instead", s->remote),
                    vk_xstrdup("none; 'vckpt validate' on the host itself also reads the "
                               "images"));
      continue;
    }
    if (!d->source || (d->type && strcmp(d->type, "file") != 0 && strcmp(d->type, "block") != 0)) {
      vk_report_add(s->rep, "disk-not-inspected", VK_SEV_WARNING, d->target, d->source, NULL, NULL,
                    vk_xasprintf("disk is of type '%s': its images cannot be inspected",
                                 d->type ? d->type : "unknown"),
                    vk_xstrdup("none: libvirt will check this disk when the backup starts"));
      continue;
    }
    char *err = NULL;
    if (vk_chain_open(d->source, d->format, &ds->chain, &err) < 0) {
      /* The finding names the image already: not "IMAGE: ... IMAGE: why". */
      const char *why = err ? err : "out of memory";
      size_t n = strlen(d->source);
      if (strncmp(why, d->source, n) == 0 && why[n] == ':' && why[n + 1] == ' ')
        why += n + 2;
      vk_report_add(s->rep, "image-unreadable", VK_SEV_ERROR, d->target, d->source, NULL, NULL,
                    vk_xasprintf("cannot read the disk image: %s", why),
                    vk_xstrdup("check that the image exists and is a valid qcow2 file "
                               "(qemu-img check)"));
      free(err);
      continue;
    }
    ds->inspect = true;
    const struct vk_chain *ch = &ds->chain;
    switch (ch->end) {
    case VK_CHAIN_COMPLETE:
      break;
    case VK_CHAIN_MISSING:
      vk_report_add(s->rep, "backing-missing", VK_SEV_ERROR, d->target,
                    ch->images[ch->nr_images - 1].filename, NULL, NULL,
                    vk_xasprintf("backing file '%s' does not exist", ch->end_path),
                    vk_xstrdup("restore the missing backing file, or rebase the image onto "
                               "the right one (qemu-img rebase -u)"));
      break;
    case VK_CHAIN_LOOP:
      vk_report_add(s->rep, "backing-loop", VK_SEV_ERROR, d->target,
                    ch->images[ch->nr_images - 1].filename, NULL, NULL,
                    vk_xasprintf("the backing chain loops back to '%s'", ch->end_path),
                    vk_xstrdup("rebase the image onto its real backing file (qemu-img rebase -u)"));
      break;
    case VK_CHAIN_UNSUPPORTED:
      vk_report_add(s->rep, "backing-unsupported", VK_SEV_WARNING, d->target,
                    ch->images[ch->nr_images - 1].filename, NULL, NULL,
                    vk_xasprintf("the chain below '%s' cannot be inspected: %s",
                                 ch->images[ch->nr_images - 1].filename,
                                 ch->end_detail ? ch->end_detail : "unsupported backing"),
                    vk_xstrdup("none: images below were not checked"));
      break;
    case VK_CHAIN_TOO_DEEP:
    case VK_CHAIN_ERROR:
      vk_report_add(s->rep, "image-unreadable", VK_SEV_ERROR, d->target,
                    ch->end_path ? ch->end_path : d->source, NULL, NULL,
                    vk_xasprintf("cannot read the backing chain: %s",
                                 ch->end_detail ? ch->end_detail : vk_chain_end_name(ch->end)),
                    vk_xstrdup("repair or replace the broken backing image"));
      break;
    }
    for (size_t k = 0; k < ch->nr_images; k++) {
      const struct vk_image *img = &ch->images[k];
      if (img->corrupt)
        vk_report_add(s->rep, "image-corrupt", VK_SEV_ERROR, d->target, img->filename, NULL, NULL,
                      vk_xstrdup("the image is marked corrupt: QEMU will refuse to write to it"),
                      vk_xasprintf("shut the domain down and run 'qemu-img check -r all %s'",
                                   img->filename));
      if (img->dirty && !s->running && !vk_image_held(img->filename))
        vk_report_add(s->rep, "image-dirty", VK_SEV_WARNING, d->target, img->filename, NULL, NULL,
                      vk_xstrdup("the image was not closed cleanly (lazy refcounts)"),
                      vk_xasprintf("run 'qemu-img check -r all %s'", img->filename));
      if (img->has_bitmaps_extension && !img->bitmaps_consistent)
        vk_report_add(s->rep, "bitmaps-ignored", VK_SEV_WARNING, d->target, img->filename, NULL, NULL,
                      vk_xstrdup("a program without bitmap support changed the image: QEMU "
                                 "ignores and drops all its bitmaps"),
                      vk_xasprintf("take a full backup to start a new chain "
                                   "(vckpt backup %s --full)", s->qdom));
      for (size_t b = 0; b < img->nr_bitmaps; b++)
        if (img->bitmaps[b].problem)
          vk_report_add(s->rep, "bitmap-invalid", VK_SEV_ERROR, d->target, img->filename,
                        img->bitmaps[b].name, NULL,
                        vk_xasprintf("QEMU will refuse this image: %s", img->bitmaps[b].problem),
                        vk_xasprintf("remove the bitmap with the domain shut off "
                                     "(qemu-img bitmap --remove %s %s)",
                                     img->filename, img->bitmaps[b].name));
    }
  }
}

/* A remote domain's disk DS: the bitmap of checkpoint CI must be live in
 * QEMU (libvirt could size the checkpoint for the disk, which it does only
 * for a bitmap that is present, recording and consistent in every image
 * that carries it).  SEV as check_bitmap_chain's.
 */
static void
check_live(struct vstate *s, struct disk_state *ds, size_t ci, const char *b,
           enum vk_severity sev)
{
  const char *target = ds->disk->target;
  const char *cname = s->ckpts.c[ci].name;
  if (live_ok(s, ci, target))
    return;
  const char *why = s->size_error ? s->size_error[ci] : NULL;
  vk_report_add(s->rep, why ? "bitmap-inconsistent" : "bitmap-missing", sev, target, NULL, b,
                cname,
                why ? vk_xasprintf("QEMU cannot use bitmap '%s' of checkpoint '%s': %s", b,
                                   cname, why)
                    : vk_xasprintf("the running domain has no bitmap '%s' for checkpoint '%s'",
                                   b, cname),
                vk_xasprintf("take a full backup to start a new chain (vckpt backup %s --full)",
                             s->qdom));
}

/* Apply the four bitmap-chain rules for bitmap B of checkpoint C (index CI)
 * on disk DS.  Returns whether the bitmap chain is valid.  SEV is the
 * severity of a violation (error for the checkpoint a backup needs).
 */
static bool
check_bitmap_chain(struct vstate *s, struct disk_state *ds, size_t ci, const char *b,
                   enum vk_severity sev)
{
  const char *target = ds->disk->target;
  const char *cname = s->ckpts.c[ci].name;
  const struct vk_chain *ch = &ds->chain;
  bool valid = true;
  bool top_has = ch->nr_images > 0 && vk_image_find_bitmap(&ch->images[0], b);
  bool live = live_ok(s, ci, target) || (unsized(s, ci) && top_has);
  size_t lowest = 0;
  bool any = false;

  for (size_t k = 0; k < ch->nr_images; k++)
    if (vk_image_find_bitmap(&ch->images[k], b)) {
      lowest = k;
      any = true;
    }
  CLEANUP_FREE char *fix = vk_xasprintf("take a full backup to start a new chain "
                                        "(vckpt backup %s --full)", s->qdom);

  /* Rule 1: the top image has the bitmap (or, running, QEMU has it live:
   * a bitmap created during this run is not in the file yet).
   */
  if (s->running && !live) {
    if (any)
      vk_report_add(s->rep, "bitmap-inconsistent", sev, target,
                    ch->images[top_has ? 0 : lowest].filename, b, cname,
                    vk_xasprintf("QEMU reports bitmap '%s' missing or "
                                 "inconsistent: it was not saved cleanly, e.g. QEMU was killed", b),
                    vk_xstrdup(fix));
    else
      vk_report_add(s->rep, "bitmap-missing", sev, target, ch->images[0].filename, b, cname,
                    vk_xasprintf("the running domain has no bitmap '%s' for checkpoint '%s'",
                                 b, cname),
                    vk_xstrdup(fix));
    return false;
  }
  if (!s->running && !top_has) {
    vk_report_add(s->rep, "bitmap-missing", sev, target, ch->images[0].filename, b, cname,
                  any ? vk_xasprintf("the top image has no bitmap '%s'; only a backing image "
                                     "has it, so writes since then were not tracked", b)
                      : vk_xasprintf("no image of the disk has bitmap '%s' of checkpoint '%s'",
                                     b, cname),
                  vk_xstrdup(fix));
    return false;
  }

  /* Rule 2: from the top down to the lowest image that has it, no gap.
   * Running, QEMU's live state (rule 1 above: libvirt computed the size,
   * which it does only for a chain of the bitmap that starts at the top,
   * has no gap and is consistent) is the truth for the images QEMU holds:
   * their files lag behind it.  A bitmap created or copied into an overlay
   * during this run (an external snapshot) reaches the file only when QEMU
   * closes the image, so such a file "gap" is no gap at all.
   */
  for (size_t k = 0; any && k < lowest; k++)
    if (!vk_image_find_bitmap(&ch->images[k], b) &&
        !(s->running && vk_image_held(ch->images[k].filename))) {
      vk_report_add(s->rep, "bitmap-gap", sev, target, ch->images[k].filename, b, cname,
                    vk_xasprintf("bitmap '%s' is in '%s' below but not in this image: "
                                 "writes to this image were not tracked", b,
                                 ch->images[lowest].filename),
                    vk_xstrdup(fix));
      valid = false;
    }

  /* Rules 3 and 4 on every image that has it. */
  for (size_t k = 0; any && k <= lowest; k++) {
    const struct vk_image *img = &ch->images[k];
    const struct vk_bitmap *bm = vk_image_find_bitmap(img, b);
    if (!bm)
      continue;
    if (!bm->enabled) {
      vk_report_add(s->rep, "bitmap-disabled", sev, target, img->filename, b, cname,
                    vk_xasprintf("bitmap '%s' is not recording (no 'auto' flag): writes "
                                 "since it was disabled are not tracked", b),
                    vk_xstrdup(fix));
      valid = false;
    }
    if (bm->in_use && !s->running) {
      bool held = vk_image_held(img->filename);
      vk_report_add(s->rep, held ? "image-locked" : "bitmap-inconsistent", sev, target,
                    img->filename, b, cname,
                    held ? vk_xasprintf("the domain is shut off but another process holds "
                                        "the image open with bitmap '%s' in use", b)
                         : vk_xasprintf("bitmap '%s' is marked in-use but no QEMU holds the "
                                        "image: it was not saved cleanly (QEMU was killed?)", b),
                    held ? vk_xstrdup("find and stop the process that has the image open "
                                      "(fuser IMAGE)")
                         : vk_xstrdup(fix));
      valid = false;
    }
  }
  return valid;
}

/* The checks specific to an incremental backup from checkpoint X. */
static void
check_incremental(struct vstate *s, const struct vk_validate_opts *o, const char *x)
{
  size_t xi;
  const struct vk_ckpt *xc = find_ckpt(s, x, &xi);
  CLEANUP_FREE char *full = vk_xasprintf("take a full backup to start a new chain "
                                         "(vckpt backup %s --full)", s->qdom);
  if (!xc) {
    bool in_images = false;
    for (size_t i = 0; i < s->disks.n; i++)
      for (size_t k = 0; s->ds[i].inspect && k < s->ds[i].chain.nr_images; k++)
        in_images |= vk_image_find_bitmap(&s->ds[i].chain.images[k], x) != NULL;
    vk_report_add(s->rep, "checkpoint-not-found", VK_SEV_ERROR, NULL, NULL, in_images ? x : NULL, x,
                  in_images ? vk_xasprintf("libvirt has no checkpoint '%s', but the images have "
                                           "bitmaps of that name: its metadata was removed", x)
                            : vk_xasprintf("libvirt has no checkpoint '%s'", x),
                  in_images ? vk_xasprintf("restore its metadata (vckpt checkpoint redefine %s "
                                           "FILE.xml), or %s", s->qdom, full)
                            : vk_xstrdup(full));
    return;
  }

  for (size_t i = 0; i < s->disks.n; i++) {
    struct disk_state *ds = &s->ds[i];
    const struct vk_disk *d = &s->disks.disk[i];
    if (strcmp(d->device, "disk") != 0 || d->readonly)
      continue;
    if (o->disks && !vk_strv_contains(o->disks, d->target))
      continue;
    bool raw = (d->format && strcmp(d->format, "raw") == 0) ||
               (ds->inspect && ds->chain.images[0].format == VK_FMT_RAW);
    if (raw) {
      vk_report_add(s->rep, "disk-raw", VK_SEV_WARNING, d->target, d->source, NULL, x,
                    vk_xstrdup("the disk is raw: raw images have no persistent bitmaps, so "
                               "every backup copies it whole"),
                    vk_xasprintf("nothing, or leave it out (--exclude %s)", d->target));
      vk_report_whole(s->rep, d->target);
      continue;
    }
    const struct vk_ckpt_disk *cd = ckpt_disk(xc, d->target);
    if (!cd || !cd->bitmap) {
      vk_report_add(s->rep, "disk-not-covered", VK_SEV_WARNING, d->target, d->source, NULL, x,
                    cd ? vk_xasprintf("checkpoint '%s' does not track this disk "
                                      "(checkpoint='no'): it is copied whole", x)
                       : vk_xasprintf("the disk was added after checkpoint '%s': it is "
                                      "copied whole", x),
                    vk_xasprintf("nothing, or leave it out (--exclude %s)", d->target));
      vk_report_whole(s->rep, d->target);
      continue;
    }
    long long then = vk_meta_capacity(s->dom, x, d->target);
    /* Without vckpt's record of the size (a checkpoint made elsewhere),
     * the images tell: the bitmap is in one that is smaller than the top
     * (an overlay grown after the checkpoint).  QEMU cannot merge bitmaps
     * of different sizes, so libvirt could not back it up incrementally;
     * copied whole, it can (tests/test-validate-overlay-grown.sh).
     */
    for (size_t k = 1; then < 0 && ds->inspect && k < ds->chain.nr_images; k++)
      if (vk_image_find_bitmap(&ds->chain.images[k], cd->bitmap_name) &&
          ds->chain.images[k].virtual_size != ds->chain.images[0].virtual_size)
        then = (long long)ds->chain.images[k].virtual_size;
    virDomainBlockInfo info;
    if (then >= 0 && virDomainGetBlockInfo(s->dom, d->target, &info, 0) == 0 &&
        (unsigned long long)then != info.capacity) {
      char a[32], b[32];
      vk_human_size(then, a, sizeof a);
      vk_human_size(info.capacity, b, sizeof b);
      vk_report_add(s->rep, "disk-resized", VK_SEV_WARNING, d->target, d->source, NULL, x,
                    vk_xasprintf("the disk was resized since checkpoint '%s' (%s -> %s): it is "
                                 "copied whole", x, a, b),
                    vk_xasprintf("nothing, or leave it out (--exclude %s)", d->target));
      vk_report_whole(s->rep, d->target);
      continue;
    }
    if (s->remote) {
      check_live(s, ds, xi, cd->bitmap_name, VK_SEV_ERROR);
      continue;
    }
    if (!ds->inspect)
      continue;
    /* libvirt 9.0 reads X's own bitmap alone (merged across the images
     * that carry it): every checkpoint's bitmap records from its creation
     * on, so a later checkpoint's broken bitmap does not matter here
     * (tests/test-validate-later-bitmap-missing.sh).
     */
    check_bitmap_chain(s, ds, xi, cd->bitmap_name, VK_SEV_ERROR);
  }
}

/* Bitmaps without checkpoints and checkpoints without bitmaps. */
static void
check_consistency(struct vstate *s, const char *x, const char *new_name)
{
  for (size_t i = 0; i < s->disks.n; i++) {
    struct disk_state *ds = &s->ds[i];
    if (!ds->inspect)
      continue;
    const char *target = ds->disk->target;
    for (size_t k = 0; k < ds->chain.nr_images; k++) {
      const struct vk_image *img = &ds->chain.images[k];
      for (size_t b = 0; b < img->nr_bitmaps; b++) {
        const char *name = img->bitmaps[b].name;
        if (new_name && strcmp(name, new_name) == 0)
          vk_report_add(s->rep, "bitmap-exists", VK_SEV_ERROR, target, img->filename, name, NULL,
                        vk_xasprintf("the image already has a bitmap '%s': creating checkpoint "
                                     "'%s' would fail", name, new_name),
                        vk_xstrdup("choose another checkpoint name (--name)"));
        bool known = false;
        for (size_t c = 0; c < s->ckpts.n && !known; c++) {
          const struct vk_ckpt_disk *cd = ckpt_disk(&s->ckpts.c[c], target);
          known = cd && cd->bitmap && cd->bitmap_name && strcmp(cd->bitmap_name, name) == 0;
        }
        if (!known)
          vk_report_add(s->rep, "bitmap-orphan", VK_SEV_WARNING, target, img->filename, name, NULL,
                        vk_xasprintf("bitmap '%s' has no libvirt checkpoint: a new checkpoint "
                                     "of that name would fail with 'Bitmap already exists'", name),
                        vk_xasprintf("restore the checkpoint metadata (vckpt checkpoint redefine), "
                                     "or remove the bitmap with the domain shut off (qemu-img "
                                     "bitmap --remove %s %s)", img->filename, name));
      }
    }
  }
  /* Checkpoints other than the one validated whose bitmaps are gone. */
  for (size_t ci = 0; ci < s->ckpts.n; ci++) {
    const struct vk_ckpt *c = &s->ckpts.c[ci];
    if (x && strcmp(c->name, x) == 0)
      continue;
    for (size_t i = 0; i < s->disks.n; i++) {
      struct disk_state *ds = &s->ds[i];
      const struct vk_ckpt_disk *cd = ckpt_disk(c, ds->disk->target);
      if (!ds->inspect || !cd || !cd->bitmap)
        continue;
      /* A checkpoint libvirt cannot size: judged by the top image. */
      bool in_top = vk_image_find_bitmap(&ds->chain.images[0], cd->bitmap_name) != NULL;
      bool present = s->running && !unsized(s, ci) ? live_ok(s, ci, cd->name) : in_top;
      if (!present)
        vk_report_add(s->rep, "checkpoint-bitmap-missing", VK_SEV_WARNING, cd->name,
                      ds->chain.images[0].filename, cd->bitmap_name, c->name,
                      vk_xasprintf("checkpoint '%s' has no usable bitmap '%s' on this disk: it "
                                   "cannot serve an incremental backup", c->name, cd->bitmap_name),
                      vk_xasprintf("delete it (vckpt checkpoint delete %s %s --metadata-only)",
                                   s->qdom, c->name));
    }
  }
}

/* A job already running on the domain makes a backup fail at once. */
static int
check_jobs(struct vstate *s)
{
  if (!s->running)
    return 0;
  virDomainJobInfo job;
  if (virDomainGetJobInfo(s->dom, &job) < 0) {
    vk_virt_error("cannot read the job state of domain '%s'", s->domname);
    return -1;
  }
  if (job.type != VIR_DOMAIN_JOB_NONE)
    vk_report_add(s->rep, "job-running", VK_SEV_ERROR, NULL, NULL, NULL, NULL,
                  vk_xstrdup("another job (backup, migration, save...) is running on the domain"),
                  vk_xasprintf("wait for it to finish, or abort it (virsh domjobabort %s)", s->qdom));
  for (size_t i = 0; i < s->disks.n; i++) {
    virDomainBlockJobInfo bj;
    const struct vk_disk *d = &s->disks.disk[i];
    if (strcmp(d->device, "disk") != 0)
      continue;
    if (virDomainGetBlockJobInfo(s->dom, d->target, &bj, 0) == 1)
      vk_report_add(s->rep, "job-running", VK_SEV_ERROR, d->target, d->source, NULL, NULL,
                    vk_xstrdup("a block job is running on this disk"),
                    vk_xasprintf("wait for it to finish (virsh blockjob %s %s --info)", s->qdom,
                                 d->target));
  }
  return 0;
}

/* An overlay or commit of the domain's images that did not finish. */
static int
check_pending(struct vstate *s)
{
  char *what = NULL;
  int r = vk_imageop_pending(s->dom, &what);
  if (r <= 0)
    return r;
  vk_report_add(s->rep, "image-operation-pending", VK_SEV_ERROR, NULL, NULL, NULL, NULL, what,
                vk_xasprintf("finish it with the domain shut off: run the same vckpt overlay "
                             "create or commit command on %s again (or vckpt repair %s)",
                             s->qdom, s->qdom));
  return 0;
}

static int
load(struct vstate *s)
{
  s->running = vk_domain_is_active(s->dom);
  if (vk_domain_disks(s->dom, s->running ? 0 : VIR_DOMAIN_XML_INACTIVE, &s->disks) < 0)
    return -1;
  s->ds = vk_xcalloc(s->disks.n, sizeof *s->ds);
  if (vk_ckpt_list_all(s->dom, 0, &s->ckpts) < 0)
    return -1;
  if (s->running) {
    s->sized = vk_xcalloc(s->ckpts.n, sizeof *s->sized);
    s->size_error = vk_xcalloc(s->ckpts.n, sizeof *s->size_error);
    for (size_t i = 0; i < s->ckpts.n; i++) {
      virDomainCheckpointPtr c = virDomainCheckpointLookupByName(s->dom, s->ckpts.c[i].name, 0);
      /* libvirt sizes a checkpoint by merging its bitmap across the images
       * that carry it, and QEMU refuses when they differ in size ("Bitmaps
       * are of different sizes": an overlay grown after it).  That disk was
       * resized since (check_incremental); the checkpoint's other disks are
       * judged by their images (unsized()).  Any other failure stops here.
       */
      int r = c ? vk_ckpt_get_quiet(c, true, &s->sized[i], &s->size_error[i]) : -1;
      if (r < 0 && s->size_error[i] && strstr(s->size_error[i], "different sizes"))
        r = vk_ckpt_get(c, false, &s->sized[i]);
      else if (r < 0 && s->size_error[i]) {
        vk_virt_error("cannot read checkpoint '%s'", s->ckpts.c[i].name);
        virDomainCheckpointFree(c);
        return -1;
      }
      if (c)
        virDomainCheckpointFree(c);
      if (r < 0) {
        if (!vk_error_reported())
          vk_virt_error("cannot read checkpoint '%s'", s->ckpts.c[i].name);
        return -1;
      }
    }
  }
  return 0;
}

static void
vstate_clear(struct vstate *s)
{
  for (size_t i = 0; i < s->disks.n; i++)
    vk_chain_clear(&s->ds[i].chain);
  free(s->ds);
  if (s->sized)
    for (size_t i = 0; i < s->ckpts.n; i++) {
      vk_ckpt_clear(&s->sized[i]);
      free(s->size_error[i]);
    }
  free(s->size_error);
  free(s->sized);
  vk_ckpt_list_clear(&s->ckpts);
  vk_disks_clear(&s->disks);
  free(s->qdom);
  free(s->remote);
}

int
vk_validate(virDomainPtr dom, const struct vk_validate_opts *o, struct vk_report *rep)
{
  struct vstate s = { .dom = dom, .domname = virDomainGetName(dom), .rep = rep };
  int r = -1;

  memset(rep, 0, sizeof *rep);
  rep->domain = vk_xstrdup(s.domname);
  s.qdom = vk_shell_quote(s.domname);
  if (load(&s) < 0 || vk_disks_check(&s.disks, s.domname, o->disks) < 0 || check_jobs(&s) < 0)
    goto done;
  rep->running = s.running;
  if (check_pending(&s) < 0)
    goto done;
  s.remote = vk_conn_remote_host(virDomainGetConnect(dom));
  if (s.remote && !s.running) {
    /* Nothing to judge from here: no live state, no images. */
    vk_report_add(rep, "remote-shut-off", VK_SEV_ERROR, NULL, NULL, NULL, NULL,
                  vk_xasprintf("the domain is shut off on host '%s': its images can be read "
                               "only there", s.remote),
                  vk_xstrdup("start the domain (pull mode backs it up from here), or run vckpt "
                             "on the host itself"));
    r = 0;
    goto done;
  }
  check_images(&s, o->disks);

  const char *x = o->checkpoint;
  if (!x && !o->full && s.ckpts.n > 0)
    x = s.ckpts.c[s.ckpts.n - 1].name;   /* the newest */
  if (x && !o->full) {
    rep->checkpoint = vk_xstrdup(x);
    check_incremental(&s, o, x);
  } else if (!o->full)
    vk_report_add(rep, "no-checkpoint", VK_SEV_INFO, NULL, NULL, NULL, NULL,
                  vk_xstrdup("the domain has no checkpoint: only a full backup is possible"),
                  vk_xasprintf("take a full backup (vckpt backup %s --full)", s.qdom));
  check_consistency(&s, o->full ? NULL : x, o->new_checkpoint);
  r = 0;
 done:
  vstate_clear(&s);
  if (r < 0)
    vk_report_clear(rep);
  return r;
}
