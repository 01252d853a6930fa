/* vckpt - checkpoints follow the repository (follow.h): a domain keeps
 * only the checkpoints of vckpt's that the next backups need.  Every
 * backup calls it after its commit; prune calls it with the manifest it
 * is about to write.
 */
#include <config.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>

#include "checkpoint-xml.h"
#include "checkpoint.h"
#include "follow.h"
#include "job.h"
#include "repo.h"
#include "util.h"
#include "virt.h"

/* Whether NAME with IDENTITY is in list L: the checkpoint vckpt created. */
static bool
ours_in(const struct vk_ckpt_list *l, const char *name, const char *identity)
{
  const struct vk_ckpt *c = vk_ckpt_list_find(l, name);
  return c && c->description && strcmp(c->description, identity) == 0;
}

/* One checkpoint of a manifest that follow may delete. */
struct known {
  const char *name, *identity;
  bool keep_record;       /* recorded as retired in NEXT if it stays */
};

/* The checkpoints manifest M records with their identities: each backup's,
 * each differential base, each retired one.  GOING: see vk_follow_manifest().
 */
static struct known *
known_checkpoints(const struct vk_manifest *m, const bool *going, size_t *n)
{
  struct known *k = vk_xcalloc(2 * m->nr_backups + m->nr_retired + 1, sizeof *k);
  *n = 0;
  for (size_t i = 0; i < m->nr_backups; i++) {
    const struct vk_backup *b = &m->backups[i];
    bool gone = going && going[i];
    k[(*n)++] = (struct known) { b->checkpoint, b->identity, gone };
    if (b->base.checkpoint)
      k[(*n)++] = (struct known) { b->base.checkpoint, b->base.identity, gone };
  }
  for (size_t i = 0; i < m->nr_retired; i++)
    k[(*n)++] = (struct known) { m->retired[i].checkpoint, m->retired[i].identity, true };
  return k;
}

/* Whether M records checkpoint NAME: a backup's, a base, a retired one. */
static bool
recorded_in(const struct vk_manifest *m, const char *name)
{
  for (size_t i = 0; i < m->nr_backups; i++)
    if (strcmp(m->backups[i].checkpoint, name) == 0 ||
        (m->backups[i].base.checkpoint && strcmp(m->backups[i].base.checkpoint, name) == 0))
      return true;
  for (size_t i = 0; i < m->nr_retired; i++)
    if (strcmp(m->retired[i].checkpoint, name) == 0)
      return true;
  return false;
}

/* Libvirt's checkpoints could not be listed: every checkpoint of M that
 * NEXT no longer records (a going backup's, its base, a retired one) and
 * that NEEDED does not name is recorded as retired in NEXT.
 */
void
vk_follow_retire_unlooked(const struct vk_manifest *m, const bool *going, char *const *needed,
                          struct vk_manifest *next)
{
  size_t n = 0;
  CLEANUP_FREE struct known *known = known_checkpoints(m, going, &n);
  for (size_t i = 0; next && i < n; i++)
    if (known[i].keep_record && known[i].identity && !vk_strv_contains(needed, known[i].name) &&
        !recorded_in(next, known[i].name))
      vk_manifest_add_retired(next, known[i].name, known[i].identity);
}

/* Checkpoints follow manifest M: delete from DOM each checkpoint that a
 * backup of M created (or that M lists as retired, or has as a full
 * backup's differential base), with the identity recorded, unless NEEDED
 * names it.  GOING (per backup of M, or NULL) marks the backups a prune
 * removes: their checkpoints, and the retired ones, that still exist
 * afterwards (the domain is shut off, or libvirt refused) are added to
 * NEXT's retired list, so that a later run deletes them.  Names deleted
 * (or, with DRY_RUN, to delete) go to *DELETED.
 */
int
vk_follow_manifest(virDomainPtr dom, const struct vk_manifest *m, const bool *going,
                   char *const *needed, bool dry_run, const struct vk_flow_cb *cb,
                   char ***deleted, struct vk_manifest *next)
{
  struct vk_ckpt_list list = { 0 };
  if (vk_ckpt_list_all(dom, 0, &list) < 0) {
    /* Nothing known: every record that could still be needed is kept. */
    vk_follow_retire_unlooked(m, going, needed, next);
    return -1;
  }
  bool active = vk_domain_is_active(dom);
  int rc = 0;
  size_t left = 0;
  CLEANUP_STRV char **done = NULL;
  size_t n = 0;
  CLEANUP_FREE struct known *known = known_checkpoints(m, going, &n);
  for (size_t i = 0; i < n; i++) {
    const char *name = known[i].name, *identity = known[i].identity;
    bool keep_record = known[i].keep_record;
    if (!identity || vk_strv_contains(needed, name) ||
        (done && vk_strv_contains(done, name)) || !ours_in(&list, name, identity))
      continue;
    vk_strv_push(&done, vk_xstrdup(name));
    if (!active && !dry_run) {
      /* libvirt deletes only the metadata of a shut-off domain's
       * checkpoint: its bitmaps go first, as the offline rollback does
       * (qemu-img takes QEMU's image lock, so a domain that started
       * meanwhile makes it fail: the checkpoint is then left for later).
       */
      CLEANUP_FREE char *why = NULL;
      if (vk_offline_remove_bitmaps(dom, name, &why) < 0 ||
          vk_checkpoint_delete(dom, name, VK_CKPT_DELETE_METADATA_ONLY |
                               VK_CKPT_DELETE_MISSING_OK, &why) < 0) {
        vk_flow_message(cb, VK_MSG_DEBUG, "checkpoint '%s' of shut-off domain '%s' left: %s",
                        name, virDomainGetName(dom), why ? why : "unknown error");
        left++;
        if (keep_record && next)
          vk_manifest_add_retired(next, name, identity);
        continue;
      }
      vk_flow_message(cb, VK_MSG_DEBUG, "deleted checkpoint '%s' (shut off: bitmaps, then "
                      "metadata)", name);
      if (deleted)
        vk_strv_push(deleted, vk_xstrdup(name));
      continue;
    }
    if (!dry_run) {
      CLEANUP_FREE char *why = NULL;
      /* Never metadata alone here: bitmaps that do exist would stay in
       * the images, recording, owned by nothing.  A checkpoint whose
       * bitmap a killed QEMU broke (libvirt: "bitmap not found") is left
       * for vckpt repair, which the warning names.
       */
      if (vk_checkpoint_delete(dom, name, VK_CKPT_DELETE_MISSING_OK, &why) < 0) {
        vk_flow_message(cb, VK_MSG_WARNING, "cannot delete checkpoint '%s': %s; it is recorded "
                        "and tried again by the next backup or prune (if its bitmaps are "
                        "broken, vckpt repair %s deletes it)", name,
                        why ? why : "unknown error", virDomainGetName(dom));
        if (keep_record && next)
          vk_manifest_add_retired(next, name, identity);
        rc = -1;
        continue;
      }
      vk_flow_message(cb, VK_MSG_DEBUG, "deleted checkpoint '%s'", name);
    }
    if (deleted)
      vk_strv_push(deleted, vk_xstrdup(name));
  }
  if (left)
    vk_flow_message(cb, VK_MSG_WARNING, "domain '%s' is shut off and %zu checkpoint%s no "
                    "backup needs could not be deleted (see --verbose): %s left for the next "
                    "prune or backup", virDomainGetName(dom), left, left == 1 ? "" : "s",
                    left == 1 ? "it is" : "they are");
  vk_ckpt_list_clear(&list);
  return rc;
}

/* The checkpoints the next backups need in M: the newest backup's (an
 * incremental) and the one its chain's differentials are taken from (its
 * full backup's, or that one's differential base).
 */
char **
vk_follow_needed(const struct vk_manifest *m)
{
  char **v = vk_xcalloc(1, sizeof *v);
  if (m->nr_backups == 0)
    return v;
  const struct vk_backup *last = &m->backups[m->nr_backups - 1];
  vk_strv_push(&v, vk_xstrdup(last->checkpoint));
  for (size_t i = 0; i < m->nr_backups; i++)
    if (m->backups[i].level == VK_LEVEL_FULL && strcmp(m->backups[i].chain, last->chain) == 0) {
      vk_strv_push(&v, vk_xstrdup(vk_backup_diff_since(&m->backups[i], NULL, NULL)));
      break;
    }
  return v;
}

/* Whether the retired lists of A and B are the same. */
bool
vk_follow_same_retired(const struct vk_manifest *a, const struct vk_manifest *b)
{
  if (a->nr_retired != b->nr_retired)
    return false;
  for (size_t i = 0; i < a->nr_retired; i++)
    if (strcmp(a->retired[i].checkpoint, b->retired[i].checkpoint) != 0 ||
        strcmp(a->retired[i].identity, b->retired[i].identity) != 0)
      return false;
  return true;
}

int
vk_checkpoints_follow(virDomainPtr dom, struct vk_repo *r, const struct vk_flow_cb *cb)
{
  const struct vk_manifest *m = vk_repo_manifest(r);
  CLEANUP_STRV char **needed = vk_follow_needed(m);
  struct vk_manifest next = { 0 };
  int rc = vk_follow_manifest(dom, m, NULL, needed, false, cb, NULL, &next);
  if (!vk_follow_same_retired(m, &next) &&
      vk_repo_set_retired(r, next.retired, next.nr_retired) < 0)
    rc = -1;
  vk_manifest_clear(&next);
  return rc;
}
