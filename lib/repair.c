/* vckpt - repair: act on the validator's findings by their fix kinds
 * (repair.h).
 */
#include <config.h>

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "backup.h"
#include "checkpoint-xml.h"
#include "checkpoint.h"
#include "fileio.h"
#include "findings.h"
#include "hostlock.h"
#include "imageop.h"
#include "output.h"
#include "process.h"
#include "qcow2.h"
#include "repair.h"
#include "repo.h"
#include "util.h"
#include "validate.h"
#include "virt.h"

/* Work that must be finished before the images are judged: each is called
 * with the dry-run flag, reports its own errors and returns 0 (or more) or
 * -1, which stops the repair.  It runs with the domain's host lock held
 * by repair (unless a dry run), so it must not take that lock itself.  An
 * interrupted overlay or commit is finished here (vk_imageop_recover).
 */
typedef int (*vk_repair_pre_fn)(virConnectPtr conn, virDomainPtr dom, bool dry_run,
                                const struct vk_flow_cb *cb);
static const vk_repair_pre_fn pre_steps[] = {
  vk_imageop_recover,
  NULL
};

/* One checkpoint the plan deletes, and why. */
struct retire {
  const struct vk_ckpt *c;
  const char *code;
  char *why;
};

/* A checkpoint the repository could bring back. */
struct candidate {
  char *name;            /* the checkpoint's */
  char *file;            /* absolute path of its saved XML */
  struct vk_ckpt c;      /* as saved */
  size_t rank;           /* its place in the manifest (vk_repo_checkpoint_record) */
  bool orphan;           /* the images hold a bitmap of that name no checkpoint owns */
  bool ok;               /* it can be redefined */
  bool keep;             /* its saved XML is unreadable: leave the bitmap alone */
  char *why_not;
  const char *parent;    /* the parent it is redefined with, or NULL (choose_parents) */
};

/* What one repair run reads once and shares. */
struct rstate {
  virConnectPtr conn;
  virDomainPtr dom;
  const char *domname;
  const struct vk_repair_request *req;
  struct vk_repair_plan *p;
  struct vk_repo *repo;
  struct vk_ckpt_list ckpts;
  struct vk_disks disks;
  struct vk_chain *chains;   /* parallel to disks; nr_images 0: not inspected */
  struct vk_report all;      /* the findings of every validation, once each */
  size_t nr_retire;
  struct retire *retire;
  size_t nc;
  struct candidate *cand;    /* oldest first */
};

static char *
dup_or_null(const char *s)
{
  return s ? vk_xstrdup(s) : NULL;
}

static bool
same(const char *a, const char *b)
{
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

const char *
vk_repair_action_name(enum vk_repair_action a)
{
  switch (a) {
  case VK_REPAIR_RECOVER: return "finish-image-operation";
  case VK_REPAIR_REDEFINE: return "redefine-checkpoint";
  case VK_REPAIR_REMOVE_BITMAP: return "remove-bitmap";
  case VK_REPAIR_DELETE_CHECKPOINT: return "delete-checkpoint";
  case VK_REPAIR_DELETE_METADATA: return "delete-checkpoint-metadata";
  }
  return "?";
}

const char *
vk_repair_state_name(enum vk_repair_state s)
{
  switch (s) {
  case VK_REPAIR_PLANNED: return "planned";
  case VK_REPAIR_DONE: return "done";
  case VK_REPAIR_FAILED: return "failed";
  case VK_REPAIR_REFUSED: return "refused";
  }
  return "?";
}

void
vk_repair_plan_clear(struct vk_repair_plan *p)
{
  for (size_t i = 0; i < p->n; i++) {
    struct vk_repair_step *s = &p->s[i];
    free(s->disk);
    free(s->image);
    free(s->bitmap);
    free(s->checkpoint);
    free(s->file);
    free(s->parent);
    free(s->why);
    free(s->error);
  }
  free(p->s);
  for (size_t i = 0; i < p->nr_left; i++) {
    free(p->left[i].disk);
    free(p->left[i].checkpoint);
    free(p->left[i].message);
  }
  free(p->left);
  free(p->domain);
  free(p->full_reason);
  memset(p, 0, sizeof *p);
}

/* Add a step to the plan (WHY is taken). */
static struct vk_repair_step *
add_step(struct vk_repair_plan *p, enum vk_repair_action a, const char *code, const char *disk,
         const char *image, const char *bitmap, const char *checkpoint, char *why)
{
  p->s = vk_xrealloc(p->s, (p->n + 1) * sizeof *p->s);
  p->s[p->n] = (struct vk_repair_step) {
    .action = a, .code = code, .disk = dup_or_null(disk), .image = dup_or_null(image),
    .bitmap = dup_or_null(bitmap), .checkpoint = dup_or_null(checkpoint), .why = why,
  };
  return &p->s[p->n++];
}

/* Whether the plan has a step of ACTION. */
static bool
has_action(const struct vk_repair_plan *p, enum vk_repair_action a)
{
  for (size_t i = 0; i < p->n; i++)
    if (p->s[i].action == a)
      return true;
  return false;
}

/* Whether the plan already removes BITMAP from IMAGE. */
static bool
removes(const struct vk_repair_plan *p, const char *image, const char *bitmap)
{
  for (size_t i = 0; i < p->n; i++)
    if (p->s[i].action == VK_REPAIR_REMOVE_BITMAP && same(p->s[i].image, image) &&
        same(p->s[i].bitmap, bitmap))
      return true;
  return false;
}

/* The next backup must be a new full chain, because of REASON (taken);
 * the first reason is kept.
 */
static void
need_full(struct vk_repair_plan *p, char *reason)
{
  if (p->need_full) {
    free(reason);
    return;
  }
  p->need_full = true;
  p->full_reason = reason;
}

/* ---- reading the state ---- */

static void
rstate_clear(struct rstate *s)
{
  for (size_t i = 0; s->chains && i < s->disks.n; i++)
    vk_chain_clear(&s->chains[i]);
  free(s->chains);
  vk_disks_clear(&s->disks);
  vk_ckpt_list_clear(&s->ckpts);
  vk_report_clear(&s->all);
  for (size_t i = 0; i < s->nr_retire; i++)
    free(s->retire[i].why);
  free(s->retire);
  for (size_t k = 0; k < s->nc; k++) {
    free(s->cand[k].name);
    free(s->cand[k].file);
    free(s->cand[k].why_not);
    vk_ckpt_clear(&s->cand[k].c);
  }
  free(s->cand);
  if (s->repo)
    vk_repo_close(s->repo);
}

/* Add F to the merged findings unless it is there already. */
static void
merge_finding(struct vk_report *all, const struct vk_finding *f)
{
  for (size_t i = 0; i < all->n; i++) {
    const struct vk_finding *g = &all->f[i];
    if (strcmp(g->code, f->code) == 0 && same(g->disk, f->disk) && same(g->image, f->image) &&
        same(g->bitmap, f->bitmap) && same(g->checkpoint, f->checkpoint))
      return;
  }
  vk_report_add(all, f->code, f->severity, f->disk, f->image, f->bitmap, f->checkpoint,
                dup_or_null(f->message), dup_or_null(f->action));
}

/* Validate from every checkpoint (an older checkpoint's broken bitmap is
 * not seen from the newest one) and merge the findings.
 */
static int
validate_all(struct rstate *s)
{
  size_t runs = s->ckpts.n ? s->ckpts.n : 1;
  for (size_t i = 0; i < runs; i++) {
    struct vk_validate_opts o = { .checkpoint = s->ckpts.n ? s->ckpts.c[i].name : NULL };
    struct vk_report rep;
    if (vk_validate(s->dom, &o, &rep) < 0)
      return -1;
    for (size_t k = 0; k < rep.n; k++)
      merge_finding(&s->all, &rep.f[k]);
    vk_report_clear(&rep);
  }
  return 0;
}

static int
load(struct rstate *s)
{
  s->p->running = vk_domain_is_active(s->dom);
  if (vk_ckpt_list_all(s->dom, 0, &s->ckpts) < 0)
    return -1;
  if (vk_domain_disks(s->dom, s->p->running ? 0 : VIR_DOMAIN_XML_INACTIVE, &s->disks) < 0)
    return -1;
  s->chains = vk_xcalloc(s->disks.n ? s->disks.n : 1, sizeof *s->chains);
  for (size_t i = 0; i < s->disks.n; i++) {
    const struct vk_disk *d = &s->disks.disk[i];
    if (strcmp(d->device, "disk") != 0 || d->readonly || !d->source ||
        (d->type && strcmp(d->type, "file") != 0 && strcmp(d->type, "block") != 0))
      continue;
    CLEANUP_FREE char *err = NULL;
    if (vk_chain_open(d->source, d->format, &s->chains[i], &err) < 0)
      memset(&s->chains[i], 0, sizeof s->chains[i]);   /* image-unreadable: not ours */
  }
  if (s->req->repo_dir) {
    struct vk_repo *r = NULL;
    if (vk_repo_open(s->req->repo_dir, s->domname, false, false, &r) < 0)
      return -1;
    s->repo = r;
  }
  return validate_all(s);
}

/* The chain of disk TARGET, or NULL. */
static const struct vk_chain *
chain_of(const struct rstate *s, const char *target)
{
  for (size_t i = 0; i < s->disks.n; i++)
    if (strcmp(s->disks.disk[i].target, target) == 0)
      return s->chains[i].nr_images ? &s->chains[i] : NULL;
  return NULL;
}

/* ---- planning ---- */

/* Delete checkpoint C (CODE and WHY, taken, say why), once. */
static void
retire(struct rstate *s, const struct vk_ckpt *c, const char *code, char *why)
{
  for (size_t i = 0; i < s->nr_retire; i++)
    if (s->retire[i].c == c) {
      free(why);
      return;
    }
  s->retire = vk_xrealloc(s->retire, (s->nr_retire + 1) * sizeof *s->retire);
  s->retire[s->nr_retire++] = (struct retire) { .c = c, .code = code, .why = why };
}

static bool
retired(const struct rstate *s, const char *name)
{
  for (size_t i = 0; i < s->nr_retire; i++)
    if (strcmp(s->retire[i].c->name, name) == 0)
      return true;
  return false;
}

/* A finding repair leaves as it is; MESSAGE (or the finding's) says why. */
static void
add_left(struct vk_repair_plan *p, const struct vk_finding *f, const char *message)
{
  p->left = vk_xrealloc(p->left, (p->nr_left + 1) * sizeof *p->left);
  p->left[p->nr_left++] = (struct vk_repair_left) {
    .code = f->code, .fix = vk_fix_name(f->fix), .disk = dup_or_null(f->disk),
    .checkpoint = dup_or_null(f->checkpoint), .message = dup_or_null(message ? message : f->message),
  };
}

/* Whether every bitmap checkpoint C names is intact in the top image of its
 * disk (recording, saved cleanly or held by the running QEMU); else why
 * not.  A running domain's bitmap that is not in the file yet (created
 * during this run: QEMU writes it when it closes the image) is left to
 * libvirt, which checks QEMU's own when the checkpoint is redefined.
 */
static char *
candidate_problem(const struct rstate *s, const struct vk_ckpt *c)
{
  bool any = false;
  for (size_t i = 0; i < c->nr_disks; i++) {
    const struct vk_ckpt_disk *d = &c->disks[i];
    if (!d->bitmap)
      continue;
    any = true;
    const struct vk_chain *ch = chain_of(s, d->name);
    if (!ch)
      return vk_xasprintf("its disk %s cannot be inspected or is gone", d->name);
    const struct vk_image *top = &ch->images[0];
    const struct vk_bitmap *b = vk_image_find_bitmap(top, d->bitmap_name);
    bool live = s->p->running && vk_image_held(top->filename);
    if (!b && live)
      continue;
    if (!b)
      return vk_xasprintf("bitmap '%s' is not in the top image of disk %s", d->bitmap_name,
                          d->name);
    if (b->problem || !b->enabled)
      return vk_xasprintf("bitmap '%s' of disk %s is %s", d->bitmap_name, d->name,
                          b->problem ? "invalid" : "not recording");
    if (b->in_use && !live)
      return vk_xasprintf("bitmap '%s' of disk %s was not saved cleanly (in-use)",
                          d->bitmap_name, d->name);
  }
  return any ? NULL : vk_xstrdup("it tracks no disk");
}

/* The candidate named NAME, or NULL. */
static struct candidate *
find_candidate(const struct rstate *s, const char *name)
{
  for (size_t k = 0; k < s->nc; k++)
    if (strcmp(s->cand[k].name, name) == 0)
      return &s->cand[k];
  return NULL;
}

/* Make checkpoint NAME a candidate (once) when the repository saved its
 * XML: read it and judge its bitmaps.  NULL if the repository has none.
 */
static struct candidate *
add_candidate(struct rstate *s, const char *name)
{
  struct candidate *c = find_candidate(s, name);
  if (c)
    return c;
  size_t rank = 0;
  const char *rec = vk_repo_checkpoint_record(s->repo, name, &rank);
  if (!rec)
    return NULL;
  s->cand = vk_xrealloc(s->cand, (s->nc + 1) * sizeof *s->cand);
  c = &s->cand[s->nc++];
  *c = (struct candidate) { .name = vk_xstrdup(name), .rank = rank,
                            .file = vk_repo_file_where(s->repo, rec) };
  CLEANUP_FREE char *xml = NULL;
  /* A saved checkpoint that cannot be read (reported) may still be
   * wanted: its bitmap is left alone, and the run fails.
   */
  if (vk_repo_read_file(s->repo, rec, 16 << 20, 0, &xml) < 0 ||
      vk_ckpt_parse(xml, c->file, &c->c) < 0) {
    c->keep = true;
    c->why_not = vk_xasprintf("the repository's XML of checkpoint '%s' cannot be read", name);
    return c;
  }
  if (strcmp(c->c.name ? c->c.name : "", name) != 0) {
    vk_error(VK_EXIT_FAILURE, "%s: the repository says it defines checkpoint '%s', but it "
             "defines '%s'", c->file, name, c->c.name ? c->c.name : "");
    c->keep = true;
    c->why_not = vk_xasprintf("the repository's XML of checkpoint '%s' names another "
                              "checkpoint", name);
    return c;
  }
  c->why_not = candidate_problem(s, &c->c);
  c->ok = !c->why_not;
  return c;
}

/* The checkpoints the repository could bring back: those of bitmaps no
 * checkpoint owns, and those its next backups need (the newest backup's,
 * and the one its chain's differentials are taken from: follow.h) when
 * libvirt lost them (a domain undefined and defined again, a libvirt
 * reinstalled): their bitmaps may still be in the images (or, running, in
 * QEMU), although the checkpoints between them are gone.  Oldest first,
 * as they are redefined.
 */
static void
gather_candidates(struct rstate *s)
{
  if (!s->repo)
    return;
  for (size_t i = 0; i < s->all.n; i++) {
    const struct vk_finding *f = &s->all.f[i];
    if (f->fix != VK_FIX_REDEFINE_CHECKPOINT || !f->bitmap ||
        vk_ckpt_list_find(&s->ckpts, f->bitmap))
      continue;
    struct candidate *c = add_candidate(s, f->bitmap);
    if (c)
      c->orphan = true;
  }
  const struct vk_backup *latest = vk_repo_latest(s->repo);
  const struct vk_backup *full = latest ? vk_repo_chain_full(s->repo, latest->chain) : NULL;
  const char *needed[] = { latest ? latest->checkpoint : NULL,
                           full ? vk_backup_diff_since(full, NULL, NULL) : NULL };
  for (size_t i = 0; i < 2; i++)
    if (needed[i] && !vk_ckpt_list_find(&s->ckpts, needed[i]))
      add_candidate(s, needed[i]);
  for (size_t i = 1; i < s->nc; i++)
    for (size_t k = i; k > 0; k--) {
      struct candidate *a = &s->cand[k - 1], *b = &s->cand[k];
      if (a->c.creation_time < b->c.creation_time ||
          (a->c.creation_time == b->c.creation_time && a->rank <= b->rank))
        break;
      struct candidate t = *a;
      *a = *b;
      *b = t;
    }
}

/* Whether checkpoint NAME is defined in libvirt and the plan keeps it. */
static bool
defined_kept(const struct rstate *s, const char *name)
{
  return vk_ckpt_list_find(&s->ckpts, name) && !retired(s, name);
}

/* The parent each candidate that can be redefined gets: its recorded one
 * when that is defined (and kept) or redefined too, or none for a root;
 * else (its parent is gone) the one libvirt
 * would report now had it never lost them, as it re-parents the children
 * of a deleted checkpoint to that one's parent and makes every new
 * checkpoint a child of the newest: the newest older checkpoint that is
 * defined or redefined, or none (a root).
 */
static void
choose_parents(struct rstate *s)
{
  for (size_t k = 0; k < s->nc; k++) {
    struct candidate *c = &s->cand[k];
    c->parent = NULL;
    if (!c->ok)
      continue;
    const char *rp = c->c.parent;
    const struct candidate *pc = rp ? find_candidate(s, rp) : NULL;
    if (!rp || defined_kept(s, rp) || (pc && pc->ok)) {
      c->parent = rp;   /* a root stays one */
      continue;
    }
    long long best = 0;
    for (size_t i = 0; i < s->ckpts.n; i++) {
      const struct vk_ckpt *d = &s->ckpts.c[i];
      if (!retired(s, d->name) && strcmp(d->name, c->name) != 0 &&
          d->creation_time <= c->c.creation_time && (!c->parent || d->creation_time >= best)) {
        c->parent = d->name;
        best = d->creation_time;
      }
    }
    for (size_t j = 0; j < k; j++)
      if (s->cand[j].ok && (!c->parent || s->cand[j].c.creation_time >= best)) {
        c->parent = s->cand[j].name;
        best = s->cand[j].c.creation_time;
      }
  }
}

/* Why candidate C is redefined (for its step). */
static char *
redefine_why(const struct rstate *s, const struct candidate *c)
{
  CLEANUP_FREE char *what = c->orphan
    ? vk_xasprintf("libvirt has no checkpoint '%s', but the images hold its bitmaps intact "
                   "and the repository saved its XML", c->name)
    : vk_xasprintf("libvirt has no checkpoint '%s', which the repository's next backups need; "
                   "the repository saved its XML%s", c->name,
                   s->p->running ? " (libvirt checks that QEMU holds its bitmaps intact as it "
                                   "redefines it)" : ", and the images hold its bitmaps intact");
  if (same(c->parent, c->c.parent))
    return vk_xstrdup(what);
  return vk_xasprintf("%s; its parent '%s' is gone, so it becomes %s%s%s", what, c->c.parent,
                      c->parent ? "a child of '" : "a root", c->parent ? c->parent : "",
                      c->parent ? "', as libvirt would now report it" : "");
}

/* Bitmaps no checkpoint owns, and checkpoints the next backups need:
 * redefine their checkpoints from the repository when it has them and
 * their bitmaps are intact; remove the other orphan bitmaps.
 */
static void
plan_redefine(struct rstate *s)
{
  gather_candidates(s);
  choose_parents(s);
  for (size_t k = 0; k < s->nc; k++) {
    const struct candidate *c = &s->cand[k];
    if (!c->ok)
      continue;
    struct vk_repair_step *st =
      add_step(s->p, VK_REPAIR_REDEFINE, c->orphan ? "bitmap-orphan" : "checkpoint-not-found",
               NULL, NULL, NULL, c->name, redefine_why(s, c));
    st->file = vk_xstrdup(c->file);
    st->parent = dup_or_null(c->parent);
  }

  /* Every other orphan goes. */
  for (size_t i = 0; i < s->all.n; i++) {
    const struct vk_finding *f = &s->all.f[i];
    if (f->fix != VK_FIX_REDEFINE_CHECKPOINT || !f->bitmap || !f->image)
      continue;
    const struct candidate *c = find_candidate(s, f->bitmap);
    if (c && c->ok)
      continue;
    if (c && c->keep) {
      add_left(s->p, f, c->why_not);
      continue;
    }
    if (removes(s->p, f->image, f->bitmap))
      continue;
    add_step(s->p, VK_REPAIR_REMOVE_BITMAP, f->code, f->disk, f->image, f->bitmap, NULL,
             c ? vk_xasprintf("no checkpoint owns bitmap '%s', and the repository's checkpoint "
                              "'%s' cannot be redefined: %s", f->bitmap, c->name, c->why_not)
               : vk_xasprintf("no checkpoint owns bitmap '%s'%s: a new checkpoint of that name "
                              "would fail with 'Bitmap already exists'", f->bitmap,
                              s->repo ? " and the repository has no checkpoint of that name"
                                      : " (no --repo to redefine it from)"));
  }
}

/* Checkpoints that can no longer serve an incremental: deleted, their
 * bitmaps first (shut off: qemu-img; running: libvirt through QEMU).
 */
static void
plan_retire(struct rstate *s)
{
  for (size_t r = 0; r < s->nr_retire; r++) {
    const struct vk_ckpt *c = s->retire[r].c;
    const char *code = s->retire[r].code;
    if (s->p->running) {
      add_step(s->p, VK_REPAIR_DELETE_CHECKPOINT, code, NULL, NULL, NULL, c->name,
               vk_xstrdup(s->retire[r].why));
      continue;
    }
    for (size_t i = 0; i < c->nr_disks; i++) {
      const struct vk_ckpt_disk *d = &c->disks[i];
      const struct vk_chain *ch = d->bitmap ? chain_of(s, d->name) : NULL;
      for (size_t k = 0; ch && k < ch->nr_images; k++)
        if (vk_image_find_bitmap(&ch->images[k], d->bitmap_name) &&
            !removes(s->p, ch->images[k].filename, d->bitmap_name))
          add_step(s->p, VK_REPAIR_REMOVE_BITMAP, code, d->name, ch->images[k].filename,
                   d->bitmap_name, c->name,
                   vk_xasprintf("checkpoint '%s' is deleted, its bitmaps first: %s",
                                c->name, s->retire[r].why));
    }
    add_step(s->p, VK_REPAIR_DELETE_METADATA, code, NULL, NULL, NULL, c->name,
             vk_xstrdup(s->retire[r].why));
  }
}

/* Which checkpoint the next backup stacks on, and whether it still can. */
static void
plan_next(struct rstate *s)
{
  size_t left = 0;
  for (size_t i = 0; i < s->ckpts.n; i++)
    left += !retired(s, s->ckpts.c[i].name);
  size_t redefined = 0;
  for (size_t i = 0; i < s->p->n; i++)
    redefined += s->p->s[i].action == VK_REPAIR_REDEFINE;
  const struct vk_backup *latest = s->repo ? vk_repo_latest(s->repo) : NULL;
  if (latest) {
    const char *x = latest->checkpoint;
    for (size_t r = 0; r < s->nr_retire; r++)
      if (strcmp(s->retire[r].c->name, x) == 0)
        need_full(s->p, vk_xasprintf("checkpoint '%s' of the newest backup (%s) is deleted "
                                     "(%s: %s)", x, latest->id, s->retire[r].code,
                                     s->retire[r].why));
    bool back = false;
    for (size_t i = 0; i < s->p->n; i++)
      back |= s->p->s[i].action == VK_REPAIR_REDEFINE && strcmp(s->p->s[i].checkpoint, x) == 0;
    const struct candidate *c = find_candidate(s, x);
    if (!vk_ckpt_list_find(&s->ckpts, x) && !back)
      need_full(s->p, vk_xasprintf("libvirt has no checkpoint '%s' of the newest backup (%s) "
                                   "and it cannot be redefined%s%s", x, latest->id,
                                   c && c->why_not ? ": " : "",
                                   c && c->why_not ? c->why_not : ""));
  } else if (left + redefined == 0)
    need_full(s->p, vk_xstrdup(s->ckpts.n ? "no checkpoint is left to stack an incremental on"
                                          : "the domain has no checkpoint"));
}

/* Turn the merged findings into steps, by fix kind. */
static void
plan(struct rstate *s)
{
  for (size_t i = 0; i < s->all.n; i++) {
    const struct vk_finding *f = &s->all.f[i];
    const struct vk_ckpt *c = f->checkpoint ? vk_ckpt_list_find(&s->ckpts, f->checkpoint) : NULL;
    switch (f->fix) {
    case VK_FIX_REDEFINE_CHECKPOINT:
      continue;   /* plan_redefine */
    case VK_FIX_FINISH_OPERATION:
      if (has_action(s->p, VK_REPAIR_RECOVER))
        continue;   /* a pre-step finishes it (a dry run: the validator still sees it) */
      break;
    case VK_FIX_REMOVE_BITMAP:
      if (f->image && f->bitmap) {
        if (!removes(s->p, f->image, f->bitmap))
          add_step(s->p, VK_REPAIR_REMOVE_BITMAP, f->code, f->disk, f->image, f->bitmap, NULL,
                   vk_xstrdup(f->message));
        continue;
      }
      break;
    case VK_FIX_DELETE_CHECKPOINT_METADATA:
    case VK_FIX_NEW_FULL_CHAIN:
      if (c) {
        retire(s, c, f->code, vk_xstrdup(f->message));
        continue;
      }
      if (f->fix == VK_FIX_NEW_FULL_CHAIN) {
        if (strcmp(f->code, "no-checkpoint") != 0)
          need_full(s->p, vk_xasprintf("%s: %s", f->code, f->message));
        continue;
      }
      break;
    default:
      break;
    }
    if (f->severity != VK_SEV_INFO)
      add_left(s->p, f, NULL);
  }
  plan_redefine(s);
  plan_retire(s);
  plan_next(s);

  /* The phases, in order: redefine, remove bitmaps, delete checkpoints. */
  static const enum vk_repair_action order[] = {
    VK_REPAIR_RECOVER, VK_REPAIR_REDEFINE, VK_REPAIR_REMOVE_BITMAP,
    VK_REPAIR_DELETE_CHECKPOINT, VK_REPAIR_DELETE_METADATA,
  };
  struct vk_repair_step *sorted = vk_xcalloc(s->p->n ? s->p->n : 1, sizeof *sorted);
  size_t n = 0;
  for (size_t o = 0; o < sizeof order / sizeof order[0]; o++)
    for (size_t i = 0; i < s->p->n; i++)
      if (s->p->s[i].action == order[o])
        sorted[n++] = s->p->s[i];
  free(s->p->s);
  s->p->s = sorted;
}

/* ---- doing ---- */

static void
step_fail(struct vk_repair_plan *p, struct vk_repair_step *st, char *error)
{
  st->state = VK_REPAIR_FAILED;
  st->error = error;
  p->failed++;
}

static void
do_remove_bitmap(struct rstate *s, struct vk_repair_step *st)
{
  if (vk_domain_is_active(s->dom) || vk_image_held(st->image)) {
    st->state = VK_REPAIR_REFUSED;
    st->error = vk_xstrdup(vk_domain_is_active(s->dom)
                           ? "the domain is running: QEMU holds the image, and libvirt has no "
                             "API to remove a bitmap from it; shut the domain down and run "
                             "repair again"
                           : "another process holds the image open");
    s->p->refused++;
    return;
  }
  /* A base another domain's chain uses (a linked clone) is theirs too:
   * the bitmap may be what their incrementals need.
   */
  CLEANUP_FREE char *other = NULL;
  int shared = vk_image_shared(s->dom, st->image, &other);
  if (shared != 0) {
    st->state = VK_REPAIR_REFUSED;
    st->error = shared < 0 ? vk_xstrdup("cannot tell which other domains use the image")
                           : vk_xasprintf("the image is also in the backing chain of domain "
                                          "'%s': removing its bitmap would change that domain "
                                          "too; remove it by hand if neither needs it", other);
    s->p->refused++;
    return;
  }
  char *argv[] = { (char *)QEMU_IMG, "bitmap", "-f", "qcow2", "--remove", "--", st->image,
                   st->bitmap, NULL };
  int status = 0;
  CLEANUP_FREE char *msg = NULL;
  if (vk_spawn(argv, -1, -1, &status, &msg) < 0) {
    step_fail(s->p, st, vk_xstrdup("qemu-img could not be run"));
    return;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    step_fail(s->p, st, vk_xasprintf("qemu-img bitmap --remove failed%s%s",
                                     msg && *msg ? ": " : "", msg ? msg : ""));
    return;
  }
  st->state = VK_REPAIR_DONE;
  s->p->done++;
}

/* Whether a bitmap step of checkpoint NAME before index I did not happen. */
static const struct vk_repair_step *
bitmap_step_undone(const struct vk_repair_plan *p, size_t i, const char *name)
{
  for (size_t k = 0; k < i; k++)
    if (p->s[k].action == VK_REPAIR_REMOVE_BITMAP && p->s[k].checkpoint &&
        strcmp(p->s[k].checkpoint, name) == 0 && p->s[k].state != VK_REPAIR_DONE)
      return &p->s[k];
  return NULL;
}

static void
do_delete(struct rstate *s, size_t i)
{
  struct vk_repair_step *st = &s->p->s[i];
  const struct vk_repair_step *undone = bitmap_step_undone(s->p, i, st->checkpoint);
  if (undone) {
    /* Its metadata goes only with its bitmaps: else they would be orphans. */
    st->state = undone->state == VK_REPAIR_REFUSED ? VK_REPAIR_REFUSED : VK_REPAIR_FAILED;
    st->error = vk_xasprintf("not done: bitmap '%s' of %s could not be removed",
                             undone->bitmap, undone->image);
    if (st->state == VK_REPAIR_REFUSED)
      s->p->refused++;
    else
      s->p->failed++;
    return;
  }
  unsigned flags = st->action == VK_REPAIR_DELETE_METADATA
    ? VK_CKPT_DELETE_METADATA_ONLY : VK_CKPT_DELETE_OR_METADATA;
  char *why = NULL;
  if (vk_checkpoint_delete(s->dom, st->checkpoint, flags | VK_CKPT_DELETE_MISSING_OK, &why) < 0) {
    step_fail(s->p, st, why ? why : vk_xstrdup("libvirt could not delete it"));
    return;
  }
  st->state = VK_REPAIR_DONE;
  s->p->done++;
}

/* Take the redefinition step I (of a checkpoint the repository's next
 * backups need) out of the plan: libvirt found QEMU without its bitmaps
 * (WHY).  The plan says it is not repaired, and whether the next backup
 * must be full.
 */
static void
drop_redefine(struct rstate *s, size_t i, const char *why)
{
  struct vk_repair_plan *p = s->p;
  struct vk_repair_step *st = &p->s[i];
  const struct vk_backup *latest = vk_repo_latest(s->repo);
  bool newest = latest && strcmp(latest->checkpoint, st->checkpoint) == 0;
  CLEANUP_FREE char *msg =
    vk_xasprintf("libvirt has no checkpoint '%s', which the repository's next %s backup "
                 "needs, and it cannot be redefined: QEMU does not hold its bitmaps intact "
                 "(%s)", st->checkpoint, newest ? "incremental" : "differential", why);
  const struct vk_finding_def *def = vk_finding_lookup("checkpoint-not-found");
  p->left = vk_xrealloc(p->left, (p->nr_left + 1) * sizeof *p->left);
  p->left[p->nr_left++] = (struct vk_repair_left) {
    .code = def ? def->code : "checkpoint-not-found",
    .fix = vk_fix_name(def ? def->fix : VK_FIX_NEW_FULL_CHAIN),
    .checkpoint = vk_xstrdup(st->checkpoint), .message = vk_xstrdup(msg),
  };
  if (newest)
    need_full(p, vk_xstrdup(msg));
  free(st->disk);
  free(st->image);
  free(st->bitmap);
  free(st->checkpoint);
  free(st->file);
  free(st->parent);
  free(st->why);
  free(st->error);
  memmove(st, st + 1, (p->n - i - 1) * sizeof *st);
  p->n--;
}

/* Redefine every checkpoint of the plan in one set: parents first, all or
 * none (vk_checkpoint_redefine rolls back).  A running domain's are
 * checked by libvirt against QEMU's bitmaps: one it refuses is left out
 * (its step fails), the parents are chosen again, and the others are
 * redefined without it.
 */
static void
do_redefine(struct rstate *s)
{
  unsigned flags = vk_domain_is_active(s->dom) ? VK_REDEFINE_VALIDATE : 0;
  for (;;) {
    size_t n = 0;
    CLEANUP_FREE const char **files = vk_xcalloc(s->p->n + 1, sizeof *files);
    for (size_t i = 0; i < s->p->n; i++)
      if (s->p->s[i].action == VK_REPAIR_REDEFINE && s->p->s[i].state == VK_REPAIR_PLANNED)
        files[n++] = s->p->s[i].file;
    if (n == 0)
      return;
    struct vk_redefine_set *set = vk_redefine_load(files, n);
    int r = set ? 0 : -1;
    for (size_t i = 0; r == 0 && i < s->p->n; i++) {
      const struct vk_repair_step *st = &s->p->s[i];
      const struct candidate *c = st->action == VK_REPAIR_REDEFINE &&
        st->state == VK_REPAIR_PLANNED ? find_candidate(s, st->checkpoint) : NULL;
      if (c && !same(c->parent, c->c.parent))
        r = vk_redefine_set_parent(set, c->name, c->parent);
    }
    CLEANUP_STRV char **names = NULL;
    CLEANUP_FREE char *refused = NULL, *why = NULL;
    if (r == 0)
      r = vk_checkpoint_redefine(s->dom, set, flags, &names, &refused, &why);
    vk_redefine_set_free(set);
    struct candidate *bad = r < 0 && refused ? find_candidate(s, refused) : NULL;
    for (size_t i = 0; i < s->p->n; i++) {
      struct vk_repair_step *st = &s->p->s[i];
      if (st->action != VK_REPAIR_REDEFINE || st->state != VK_REPAIR_PLANNED)
        continue;
      if (r == 0) {
        st->state = VK_REPAIR_DONE;
        s->p->done++;
      } else if (bad && strcmp(st->checkpoint, bad->name) == 0) {
        /* The images' bitmap (an orphan) is not QEMU's: a failure.  A
         * checkpoint tried because the repository needs it was a hope:
         * it cannot be redefined, which the plan now says.
         */
        if (bad->orphan)
          step_fail(s->p, st, vk_xasprintf("libvirt refused it: QEMU does not hold its "
                                           "bitmaps intact: %s", why));
        else
          drop_redefine(s, i--, why);
      } else if (!bad)
        step_fail(s->p, st, vk_xstrdup("the checkpoints could not be redefined (see the "
                                       "error above); none was"));
    }
    if (r == 0 || !bad)
      break;
    /* Without it: the others' parents again, then another try. */
    bad->ok = false;
    choose_parents(s);
    for (size_t i = 0; i < s->p->n; i++) {
      struct vk_repair_step *st = &s->p->s[i];
      const struct candidate *c = st->action == VK_REPAIR_REDEFINE &&
        st->state == VK_REPAIR_PLANNED ? find_candidate(s, st->checkpoint) : NULL;
      if (c) {
        free(st->parent);
        st->parent = dup_or_null(c->parent);
      }
    }
  }
}

static void
execute(struct rstate *s)
{
  /* A job on the domain (a backup, a block job) would race every step. */
  for (size_t i = 0; i < s->all.n; i++)
    if (s->all.f[i].fix == VK_FIX_WAIT_FOR_JOB) {
      for (size_t k = 0; k < s->p->n; k++) {
        if (s->p->s[k].state != VK_REPAIR_PLANNED)
          continue;
        s->p->s[k].state = VK_REPAIR_REFUSED;
        s->p->s[k].error = vk_xasprintf("a job runs on the domain (%s): %s; run repair "
                                        "again when it is over", s->all.f[i].code,
                                        s->all.f[i].message);
        s->p->refused++;
      }
      return;
    }
  /* A stop signal ends the run between two steps: each can be repeated,
   * and the next run plans again from what is there.
   */
  if (!vk_stop_signal)
    do_redefine(s);
  for (size_t i = 0; i < s->p->n && !vk_stop_signal; i++) {
    struct vk_repair_step *st = &s->p->s[i];
    switch (st->action) {
    case VK_REPAIR_REMOVE_BITMAP:
      do_remove_bitmap(s, st);
      break;
    case VK_REPAIR_DELETE_CHECKPOINT:
    case VK_REPAIR_DELETE_METADATA:
      do_delete(s, i);
      break;
    case VK_REPAIR_RECOVER:
    case VK_REPAIR_REDEFINE:
      break;
    }
    if (st->state != VK_REPAIR_PLANNED)
      vk_flow_message(s->req->cb, VK_MSG_DEBUG, "%s %s: %s", vk_repair_action_name(st->action),
                      st->checkpoint ? st->checkpoint : st->bitmap ? st->bitmap : "",
                      vk_repair_state_name(st->state));
  }
}

/* After a stop signal: exit 6 when steps of plan P were left undone (the
 * next repair plans again and does them), else the repair is complete.
 */
static void
stopped(const struct vk_repair_plan *p, bool dry_run)
{
  if (!vk_stop_signal)
    return;
  size_t left = 0;
  for (size_t i = 0; i < p->n; i++)
    left += p->s[i].state == VK_REPAIR_PLANNED;
  if (dry_run)
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: nothing was changed",
             (int)vk_stop_signal);
  else if (left > 0)
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: %zu step%s done, %zu not "
             "started; run repair again to finish", (int)vk_stop_signal, p->done,
             p->done == 1 ? "" : "s", left);
  else
    vk_warn("signal %d came too late to stop the repair: every step was done",
            (int)vk_stop_signal);
}

/* The messages of a pre-step, gathered into the text of its step. */
struct collect {
  char *text;
  const struct vk_flow_cb *next;   /* where debug messages still go */
};

static void
collect_message(void *opaque, enum vk_msg_level level, const char *text)
{
  struct collect *c = opaque;
  if (level == VK_MSG_DEBUG) {
    vk_flow_message(c->next, level, "%s", text);
    return;
  }
  char *t = c->text ? vk_xasprintf("%s; %s", c->text, text) : vk_xstrdup(text);
  free(c->text);
  c->text = t;
}

int
vk_repair(virConnectPtr conn, virDomainPtr dom, const struct vk_repair_request *req,
          struct vk_repair_plan *out)
{
  struct rstate s = { .conn = conn, .dom = dom, .domname = virDomainGetName(dom), .req = req,
                      .p = out };
  memset(out, 0, sizeof *out);
  out->domain = vk_xstrdup(s.domname);
  out->dry_run = req->dry_run;

  int lockfd = -1;
  if (!req->dry_run) {
    char uuid[VIR_UUID_STRING_BUFLEN];
    if (virDomainGetUUIDString(dom, uuid) < 0) {
      vk_virt_error("cannot read the UUID of domain '%s'", s.domname);
      return -1;
    }
    if ((lockfd = vk_host_lock(s.domname, uuid, req->repo_dir ? req->repo_dir : "-")) < 0)
      return -1;
  }
  vk_stop_catch_begin();
  int r = -1;
  for (size_t i = 0; pre_steps[i]; i++) {
    struct collect col = { .next = req->cb };
    struct vk_flow_cb cb = { .message = collect_message, .opaque = &col, .quiet = true };
    int pr = pre_steps[i](conn, dom, req->dry_run, &cb);
    if (pr < 0) {
      struct vk_repair_step *st =
        add_step(out, VK_REPAIR_RECOVER, "image-operation-pending", NULL, NULL, NULL, NULL,
                 col.text ? col.text
                          : vk_xstrdup("an interrupted image operation must be finished first"));
      step_fail(out, st, vk_xstrdup("it could not be finished (see the error above)"));
      r = 0;
      goto done;
    }
    if (pr == 0) {
      free(col.text);
      continue;
    }
    struct vk_repair_step *st =
      add_step(out, VK_REPAIR_RECOVER, "image-operation-pending", NULL, NULL, NULL, NULL,
               col.text ? col.text : vk_xstrdup("an interrupted image operation"));
    if (!req->dry_run) {
      st->state = VK_REPAIR_DONE;
      out->done++;
    }
  }
  if (load(&s) < 0)
    goto done;
  plan(&s);
  if (!req->dry_run)
    execute(&s);
  r = 0;
  stopped(out, req->dry_run);
 done:
  rstate_clear(&s);
  vk_host_unlock(lockfd);
  vk_stop_catch_end();
  if (r < 0)
    vk_repair_plan_clear(out);
  return r;
}

json_object *
vk_repair_json(const struct vk_repair_plan *p)
{
  json_object *o = json_object_new_object();
  json_object_object_add(o, "domain", vk_json_string(p->domain));
  json_object_object_add(o, "running", json_object_new_boolean(p->running));
  json_object_object_add(o, "dry_run", json_object_new_boolean(p->dry_run));
  json_object *steps = json_object_new_array();
  for (size_t i = 0; i < p->n; i++) {
    const struct vk_repair_step *st = &p->s[i];
    json_object *j = json_object_new_object();
    json_object_object_add(j, "action", json_object_new_string(vk_repair_action_name(st->action)));
    json_object_object_add(j, "state", json_object_new_string(vk_repair_state_name(st->state)));
    json_object_object_add(j, "code", vk_json_string(st->code));
    json_object_object_add(j, "disk", vk_json_string(st->disk));
    json_object_object_add(j, "image", vk_json_string(st->image));
    json_object_object_add(j, "bitmap", vk_json_string(st->bitmap));
    json_object_object_add(j, "checkpoint", vk_json_string(st->checkpoint));
    json_object_object_add(j, "file", vk_json_string(st->file));
    if (st->action == VK_REPAIR_REDEFINE)
      json_object_object_add(j, "parent", vk_json_string(st->parent));
    json_object_object_add(j, "why", vk_json_string(st->why));
    json_object_object_add(j, "error", vk_json_string(st->error));
    json_object_array_add(steps, j);
  }
  json_object_object_add(o, "steps", steps);
  json_object *left = json_object_new_array();
  for (size_t i = 0; i < p->nr_left; i++) {
    json_object *j = json_object_new_object();
    json_object_object_add(j, "code", vk_json_string(p->left[i].code));
    json_object_object_add(j, "fix", vk_json_string(p->left[i].fix));
    json_object_object_add(j, "disk", vk_json_string(p->left[i].disk));
    json_object_object_add(j, "checkpoint", vk_json_string(p->left[i].checkpoint));
    json_object_object_add(j, "message", vk_json_string(p->left[i].message));
    json_object_array_add(left, j);
  }
  json_object_object_add(o, "not_repaired", left);
  json_object *next = json_object_new_object();
  json_object_object_add(next, "full", json_object_new_boolean(p->need_full));
  json_object_object_add(next, "reason", vk_json_string(p->full_reason));
  json_object_object_add(o, "next_backup", next);
  json_object_object_add(o, "done", json_object_new_int64(p->done));
  json_object_object_add(o, "failed", json_object_new_int64(p->failed));
  json_object_object_add(o, "refused", json_object_new_int64(p->refused));
  return o;
}
