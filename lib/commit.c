/* vckpt - a commit that carries the bitmaps (commit.h). */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "commit.h"
#include "fileio.h"
#include "process.h"
#include "testhook.h"
#include "util.h"

/* The index in CH, from FROM on, of the image PATH names, or -1. */
static long
chain_index(const struct vk_chain *ch, const char *path, size_t from)
{
  for (size_t k = from; k < ch->nr_images; k++)
    if (vk_same_file(ch->images[k].filename, path))
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

/* Refuse IMG unless it is qcow2. */
static int
check_qcow2(const struct vk_image *img)
{
  if (img->format == VK_FMT_QCOW2)
    return 0;
  CLEANUP_FREE char *p = vk_printable(img->filename);
  vk_error(VK_EXIT_FAILURE, "%s is not a qcow2 image: vckpt commits qcow2 chains only", p);
  return -1;
}

/* Add to BASE, the image B of CH, each bitmap of the images above it that
 * it lacks (same granularity, recording or not as it was).
 */
static int
add_bitmaps(const struct vk_chain *ch, long b, const char *base)
{
  const struct vk_image *bimg = &ch->images[b];
  CLEANUP_STRV char **added = NULL;
  for (long k = 0; k < b; k++)
    for (size_t i = 0; i < ch->images[k].nr_bitmaps; i++) {
      const struct vk_bitmap *bm = &ch->images[k].bitmaps[i];
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
      if (vk_run(argv) < 0)
        return -1;
      vk_strv_push(&added, vk_xstrdup(bm->name));
    }
  return 0;
}

int
vk_commit_steps(const char *top, const char *base, struct vk_imageop_disk *out)
{
  CLEANUP_CHAIN struct vk_chain ch = { 0 };
  char *err = NULL;
  if (vk_check_dir_of(top, "commit's top image directory") < 0 ||
      vk_check_dir_of(base, "commit's base image directory") < 0)
    return -1;
  if (vk_chain_open(top, "qcow2", &ch, &err) < 0) {
    CLEANUP_FREE char *m = vk_printable(err ? err : "out of memory");
    vk_error(errno == ENOENT ? VK_EXIT_NOT_FOUND : VK_EXIT_FAILURE, "%s", m);
    free(err);
    return -1;
  }
  long b = chain_index(&ch, base, 1);
  if (b < 0) {
    CLEANUP_FREE char *pb = vk_printable(base);
    CLEANUP_FREE char *pt = vk_printable(top);
    vk_error(VK_EXIT_NOT_FOUND, "%s is not below %s in its backing chain", pb, pt);
    return -1;
  }
  for (long k = 0; k <= b; k++)
    if (check_qcow2(&ch.images[k]) < 0)
      return -1;
  if (check_commit_bitmaps(&ch, b) < 0 || add_bitmaps(&ch, b, base) < 0)
    return -1;
  for (long k = 0; k < b; k++)
    for (size_t i = 0; i < ch.images[k].nr_bitmaps; i++) {
      const struct vk_bitmap *bm = &ch.images[k].bitmaps[i];
      char *argv[] = { (char *)QEMU_IMG, "bitmap", "--merge", bm->name, "-b",
                       ch.images[k].filename, "-F", "qcow2", "-f", "qcow2", "--",
                       (char *)base, bm->name, NULL };
      if (vk_run(argv) < 0)
        return -1;
      if (!out->copied || !vk_strv_contains(out->copied, bm->name))
        vk_strv_push(&out->copied, vk_xstrdup(bm->name));
    }
  vk_test_hook("bitmaps");
  if (vk_stop_signal) {
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d before the data was committed",
             (int)vk_stop_signal);
    return -1;
  }
  char *cargv[] = { (char *)QEMU_IMG, "commit", "-q", "-f", "qcow2", "-d", "-b", (char *)base,
                    (char *)top, NULL };
  if (vk_run(cargv) < 0)
    return -1;
  vk_test_hook("commit");
  return 0;
}

int
vk_commit_rebase(const char *above, const char *base)
{
  CLEANUP_IMAGE struct vk_image img = { 0 };
  if (vk_image_open_qcow2(above, true, &img) < 0)
    return -1;
  CLEANUP_FREE char *cur = img.backing_file ? vk_resolve_backing_path(above, img.backing_file)
                                            : NULL;
  if (cur && vk_same_file(cur, base))
    return 0;
  CLEANUP_FREE char *bname = vk_backing_name(above, base);
  char *argv[] = { (char *)QEMU_IMG, "rebase", "-q", "-u", "-f", "qcow2", "-F", "qcow2", "-b",
                   bname, (char *)above, NULL };
  return vk_run(argv);
}

bool
vk_commit_rebased(const char *above, const char *base)
{
  CLEANUP_IMAGE struct vk_image img = { 0 };
  char *err = NULL;
  if (vk_image_open(above, "qcow2", &img, &err) < 0) {
    free(err);
    return false;
  }
  CLEANUP_FREE char *cur = img.backing_file ? vk_resolve_backing_path(above, img.backing_file)
                                            : NULL;
  return cur && vk_same_file(cur, base);
}

void
vk_commit_plan_clear(struct vk_commit_plan *p)
{
  free(p->active);
  free(p->top);
  free(p->base);
  free(p->above);
  memset(p, 0, sizeof *p);
}

/* The index in CH of the base of a commit of image T: BASE's, or T's
 * backing file's when BASE is NULL; -1 after reporting.  PTOP and PACT name
 * T and the active image in messages.
 */
static long
base_index(const struct vk_chain *ch, long t, const char *base, const char *ptop,
           const char *pact)
{
  if (base) {
    long b = chain_index(ch, base, t + 1);
    if (b < 0) {
      CLEANUP_FREE char *pb = vk_printable(base);
      vk_error(VK_EXIT_NOT_FOUND, "%s is not below %s in the backing chain of %s", pb, ptop,
               pact);
    }
    return b;
  }
  if ((size_t)t + 1 < ch->nr_images)
    return t + 1;
  if (ch->end != VK_CHAIN_COMPLETE)
    vk_error(VK_EXIT_FAILURE, "the backing file of %s cannot be read: %s", ptop,
             ch->end_detail ? ch->end_detail : vk_chain_end_name(ch->end));
  else
    vk_error(VK_EXIT_USAGE, "%s has no backing file: there is nothing to commit it into",
             ptop);
  return -1;
}

int
vk_commit_plan_make(const char *active, const char *top, const char *base,
                    struct vk_commit_plan *p)
{
  memset(p, 0, sizeof *p);
  CLEANUP_FREE char *aactive = vk_abs_path(active);
  if (!aactive)
    return -1;
  {
    CLEANUP_IMAGE struct vk_image probe = { 0 };
    if (vk_image_open_qcow2(aactive, true, &probe) < 0)
      return -1;
  }
  CLEANUP_CHAIN struct vk_chain ch = { 0 };
  char *err = NULL;
  if (vk_chain_open(aactive, "qcow2", &ch, &err) < 0) {
    CLEANUP_FREE char *m = vk_printable(err ? err : "out of memory");
    vk_error(VK_EXIT_FAILURE, "%s", m);
    free(err);
    return -1;
  }
  CLEANUP_FREE char *ptop = vk_printable(top ? top : active);
  CLEANUP_FREE char *pact = vk_printable(active);
  long t = top ? chain_index(&ch, top, 0) : 0;
  if (t < 0) {
    vk_error(VK_EXIT_NOT_FOUND, "%s is not in the backing chain of %s", ptop, pact);
    return -1;
  }
  long b = base_index(&ch, t, base, ptop, pact);
  if (b < 0)
    return -1;
  for (long k = 0; k <= b; k++)
    if (check_qcow2(&ch.images[k]) < 0 || vk_check_not_held(ch.images[k].filename) < 0)
      return -1;
  /* The committed images' bitmaps, checked on the chain as it is. */
  struct vk_chain sub = { .nr_images = b - t + 1, .images = ch.images + t };
  if (check_commit_bitmaps(&sub, b - t) < 0)
    return -1;
  p->active = vk_xstrdup(aactive);
  p->top = vk_xstrdup(ch.images[t].filename);
  p->base = vk_xstrdup(ch.images[b].filename);
  p->above = t > 0 ? vk_xstrdup(ch.images[t - 1].filename) : NULL;
  return 0;
}

/* vk_commit_image under its catch of the stop signals. */
static int
commit_image_caught(const char *active, const char *top, const char *base,
                    struct vk_imageop_result *res)
{
  memset(res, 0, sizeof *res);
  res->kind = "commit";
  struct vk_commit_plan p;
  if (vk_commit_plan_make(active, top, base, &p) < 0)
    return -1;
  res->d = vk_xcalloc(1, sizeof *res->d);
  res->n = 1;
  res->d[0].base = vk_xstrdup(p.base);
  res->d[0].image = vk_xstrdup(p.top);
  res->d[0].above = p.above ? vk_xstrdup(p.above) : NULL;
  int r = vk_commit_steps(p.top, p.base, &res->d[0]);
  if (r == 0 && p.above && vk_stop_signal) {
    CLEANUP_FREE char *pa = vk_printable(p.above);
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d before %s was rebased: the old "
             "chain is unchanged for its readers; run the command again to finish",
             (int)vk_stop_signal, pa);
    r = -1;
  } else if (r == 0 && p.above)
    r = vk_commit_rebase(p.above, p.base);
  if (r == 0)
    vk_test_hook("switch");
  vk_commit_plan_clear(&p);
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
