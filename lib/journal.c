/* vckpt - the journal of a repository transaction: build, parse, roll
 * back, finish.
 */
#include <config.h>

#include <errno.h>
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "journal.h"
#include "util.h"
#include "xml.h"

static const char *const kind_names[] = {
  [VK_TXN_BACKUP] = "backup", [VK_TXN_MERGE] = "merge", [VK_TXN_REPAIR] = "repair",
  [VK_TXN_COPY] = "copy",
};

const char *
vk_txn_kind_name(enum vk_txn_kind kind)
{
  return kind <= VK_TXN_COPY ? kind_names[kind] : "?";
}

void
vk_journal_add_step(struct vk_journal *j, enum vk_step_action action, enum vk_step_type type,
                    const char *name)
{
  j->steps = vk_xrealloc(j->steps, (j->nr_steps + 1) * sizeof *j->steps);
  j->steps[j->nr_steps++] = (struct vk_journal_step) {
    .action = action, .type = type, .name = vk_xstrdup(name),
  };
}

void
vk_journal_for_backup(struct vk_journal *j, const struct vk_backup *b)
{
  j->kind = VK_TXN_BACKUP;
  j->commit_id = vk_xstrdup(b->id);
  j->commit_listed = true;
  j->backup = vk_xcalloc(1, sizeof *j->backup);
  vk_backup_copy(j->backup, b);
  if (b->level == VK_LEVEL_FULL)
    vk_journal_add_step(j, VK_STEP_CREATE, VK_STEP_DIRECTORY, b->chain);
  for (size_t i = 0; i < b->nr_disks; i++)
    vk_journal_add_step(j, VK_STEP_CREATE, VK_STEP_FILE, b->disks[i].file);
  vk_journal_add_step(j, VK_STEP_CREATE, VK_STEP_FILE, b->domain_xml);
  vk_journal_add_step(j, VK_STEP_CREATE, VK_STEP_FILE, b->checkpoint_xml);
  vk_journal_state_steps(j, b, VK_STEP_CREATE);
}

void
vk_journal_state_steps(struct vk_journal *j, const struct vk_backup *b,
                       enum vk_step_action action)
{
  for (int tpm = 0; tpm < 2; tpm++) {
    const struct vk_state_file *sf = tpm ? &b->tpm : &b->nvram;
    if (action == VK_STEP_CREATE) {
      CLEANUP_FREE char *name = vk_backup_state_name(b->chain, b->id, tpm);
      vk_journal_add_step(j, action, VK_STEP_FILE, name);
    } else if (sf->file)
      vk_journal_add_step(j, action, VK_STEP_FILE, sf->file);
  }
}

void
vk_journal_clear(struct vk_journal *j)
{
  free(j->commit_id);
  vk_backup_free(j->backup);
  for (size_t i = 0; i < j->nr_steps; i++)
    free(j->steps[i].name);
  free(j->steps);
  memset(j, 0, sizeof *j);
}

xmlDocPtr
vk_journal_build(const struct vk_manifest *m, const struct vk_journal *j)
{
  xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
  xmlNodePtr root = xmlNewNode(NULL, (const xmlChar *)"pending");
  xmlDocSetRootElement(doc, root);
  xmlNewProp(root, (const xmlChar *)"version", (const xmlChar *)"2");
  xmlNewProp(root, (const xmlChar *)"kind", (const xmlChar *)vk_txn_kind_name(j->kind));
  vk_manifest_add_domain(root, m);
  xmlNodePtr c = xmlNewChild(root, NULL, (const xmlChar *)"commit", NULL);
  xmlNewProp(c, (const xmlChar *)"backup", (const xmlChar *)j->commit_id);
  xmlNewProp(c, (const xmlChar *)"when", (const xmlChar *)(j->commit_listed ? "listed"
                                                                            : "unlisted"));
  if (j->backup)
    vk_manifest_add_backup(root, j->backup, false);
  xmlNodePtr steps = xmlNewChild(root, NULL, (const xmlChar *)"steps", NULL);
  for (size_t i = 0; i < j->nr_steps; i++) {
    const struct vk_journal_step *s = &j->steps[i];
    xmlNodePtr n = vk_xml_add_text(steps, "step", s->name);
    xmlNewProp(n, (const xmlChar *)"action",
               (const xmlChar *)(s->action == VK_STEP_CREATE ? "create" : "remove"));
    xmlNewProp(n, (const xmlChar *)"type",
               (const xmlChar *)(s->type == VK_STEP_FILE ? "file" : "directory"));
  }
  return doc;
}

/* Whether the steps of A and B are the same. */
static bool
same_steps(const struct vk_journal *a, const struct vk_journal *b)
{
  if (a->nr_steps != b->nr_steps)
    return false;
  for (size_t i = 0; i < a->nr_steps; i++)
    if (a->steps[i].action != b->steps[i].action || a->steps[i].type != b->steps[i].type ||
        strcmp(a->steps[i].name, b->steps[i].name) != 0)
      return false;
  return true;
}

/* Whether NAME is a chain directory ("20261122T030000Z", "-N" suffix
 * allowed) or, for a FILE, a file directly in one whose name does not
 * start with '.': a journal, even a hostile one, never names anything
 * else (the schema says so too, but it can be overridden).
 */
static bool
step_name_ok(const char *name, bool file)
{
  const char *p = name;
  for (int i = 0; i < 8; i++, p++)
    if (!isdigit((unsigned char)*p))
      return false;
  if (*p++ != 'T')
    return false;
  for (int i = 0; i < 6; i++, p++)
    if (!isdigit((unsigned char)*p))
      return false;
  if (*p++ != 'Z')
    return false;
  if (*p == '-') {
    const char *d = ++p;
    while (isdigit((unsigned char)*p))
      p++;
    if (p == d || p - d > 4)
      return false;
  }
  if (!file)
    return *p == '\0';
  if (*p++ != '/' || *p == '.' || *p == '\0' || strchr(p, '/'))
    return false;
  for (; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      return false;
  return true;
}

int
vk_journal_parse(xmlDocPtr doc, const char *path, struct vk_journal *j)
{
  CLEANUP_XPATHCTX xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  CLEANUP_FREE char *version = vk_xpath_string(ctx, NULL, "/pending/@version");
  CLEANUP_XPATHOBJ xmlXPathObjectPtr nodes = vk_xpath_nodes(ctx, NULL, "/pending/backup");
  struct vk_backup *b = NULL;
  if (vk_xpath_count(nodes) == 1) {
    b = vk_xcalloc(1, sizeof *b);
    if (vk_manifest_parse_backup(ctx, nodes->nodesetval->nodeTab[0], path, b) < 0) {
      vk_backup_free(b);
      return -1;
    }
  }
  if (!version || strcmp(version, "1") == 0) {
    /* Written by vckpt before version 2: a backup's journal. */
    if (!b) {
      vk_error(VK_EXIT_FAILURE, "%s: expected one backup", path);
      return -1;
    }
    vk_journal_for_backup(j, b);
    vk_backup_free(b);
    return 0;
  }

  CLEANUP_FREE char *kind = vk_xpath_string(ctx, NULL, "/pending/@kind");
  CLEANUP_FREE char *when = vk_xpath_string(ctx, NULL, "/pending/commit/@when");
  j->kind = VK_TXN_COPY + 1;
  for (enum vk_txn_kind k = VK_TXN_BACKUP; k <= VK_TXN_COPY; k++)
    if (kind && strcmp(kind, kind_names[k]) == 0)
      j->kind = k;
  j->commit_id = vk_xpath_string(ctx, NULL, "/pending/commit/@backup");
  j->commit_listed = when && strcmp(when, "listed") == 0;
  j->backup = b;
  CLEANUP_XPATHOBJ xmlXPathObjectPtr steps = vk_xpath_nodes(ctx, NULL, "/pending/steps/step");
  int n = vk_xpath_count(steps);
  for (int i = 0; i < n; i++) {
    xmlNodePtr s = steps->nodesetval->nodeTab[i];
    CLEANUP_FREE char *action = vk_xpath_string(ctx, s, "@action");
    CLEANUP_FREE char *type = vk_xpath_string(ctx, s, "@type");
    CLEANUP_FREE char *name = vk_xpath_string(ctx, s, ".");
    if (!action || !type || !name) {
      vk_error(VK_EXIT_FAILURE, "%s: incomplete step", path);
      return -1;
    }
    bool is_file = strcmp(type, "file") == 0;
    if (!step_name_ok(name, is_file)) {
      CLEANUP_FREE char *shown = vk_printable(name);
      vk_error(VK_EXIT_FAILURE, "%s: step names '%s', which is not a %s of this repository",
               path, shown, is_file ? "file in a chain directory" : "chain directory");
      return -1;
    }
    vk_journal_add_step(j, strcmp(action, "create") == 0 ? VK_STEP_CREATE : VK_STEP_REMOVE,
                        strcmp(type, "file") == 0 ? VK_STEP_FILE : VK_STEP_DIRECTORY, name);
  }
  if (j->kind > VK_TXN_COPY || !j->commit_id || !when) {
    vk_error(VK_EXIT_FAILURE, "%s: transaction without a kind or commit mark", path);
    return -1;
  }
  if (j->kind == VK_TXN_BACKUP) {
    /* What a backup may remove is exactly what it created: its own files. */
    struct vk_journal want = { .kind = VK_TXN_BACKUP };
    bool ok = b && j->commit_listed && strcmp(j->commit_id, b->id) == 0;
    if (ok) {
      vk_journal_for_backup(&want, b);
      ok = same_steps(j, &want);
      vk_journal_clear(&want);
    }
    if (!ok) {
      vk_error(VK_EXIT_FAILURE, "%s: the backup transaction's commit mark and steps must be "
               "those of its backup", path);
      return -1;
    }
  }
  return 0;
}

bool
vk_journal_committed(const struct vk_journal *j, const struct vk_manifest *m)
{
  bool listed = vk_manifest_find_id(m, m->nr_backups, j->commit_id) != NULL;
  return listed == j->commit_listed;
}

/* Remove file NAME of step S unless M uses it; 1 if it could not be. */
static int
remove_step_file(int dirfd, const char *dir, const struct vk_manifest *m, const char *name)
{
  if (vk_manifest_has_file(m, name)) {
    vk_warn("not removing %s/%s: a committed backup uses it", dir, name);
    return 0;
  }
  /* Through the chain directory opened without following a symbolic
   * link: a link planted in its place never leads outside the repository.
   */
  const char *slash = strchr(name, '/');
  CLEANUP_FREE char *chain = slash ? strndup(name, slash - name) : NULL;
  if (!chain) {
    vk_warn("not removing %s/%s: not a file of a chain directory", dir, name);
    return 1;
  }
  CLEANUP_CLOSE int cfd = openat(dirfd, chain, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (cfd < 0) {
    if (errno == ENOENT)
      return 0;
    vk_warn("cannot remove %s/%s: %s/%s: %s", dir, name, dir, chain, strerror(errno));
    return 1;
  }
  if (unlinkat(cfd, slash + 1, 0) < 0 && errno != ENOENT) {
    vk_warn("cannot remove %s/%s: %s", dir, name, strerror(errno));
    return 1;
  }
  return 0;
}

/* Remove chain directory NAME (with our temporary files) unless M uses it. */
static int
remove_step_dir(int dirfd, const char *dir, const struct vk_manifest *m, const char *name)
{
  if (vk_manifest_has_chain(m, name)) {
    vk_warn("not removing %s/%s: a committed backup uses it", dir, name);
    return 0;
  }
  vk_sweep_temps(dirfd, dir, name);
  if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
    /* Something not ours in it: leave it, and the directory, to the admin;
     * everything the transaction wrote is gone.
     */
    bool foreign = errno == ENOTEMPTY || errno == EEXIST;
    vk_warn("cannot remove %s/%s: %s", dir, name, strerror(errno));
    return foreign ? 0 : 1;
  }
  return 0;
}

/* After removing the files of ACTION: sweep our temporary files out of
 * each directory they were in (when SWEEP) and fsync it, once each.
 */
static void
sync_step_dirs(const struct vk_journal *j, enum vk_step_action action, int dirfd,
               const char *dir, bool sweep)
{
  for (size_t i = 0; i < j->nr_steps; i++) {
    const struct vk_journal_step *s = &j->steps[i];
    const char *slash = s->type == VK_STEP_FILE ? strchr(s->name, '/') : NULL;
    if (s->action != action || !slash)
      continue;
    size_t len = slash - s->name;
    bool seen = false;
    for (size_t k = 0; k < i && !seen; k++)
      seen = j->steps[k].action == action && j->steps[k].type == VK_STEP_FILE &&
             strncmp(j->steps[k].name, s->name, len + 1) == 0;
    if (seen)
      continue;
    CLEANUP_FREE char *sub = strndup(s->name, len);
    if (!sub)
      abort();
    if (sweep)
      vk_sweep_temps(dirfd, dir, sub);
    CLEANUP_CLOSE int fd = openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0 && fsync(fd) < 0)
      vk_warn("%s/%s: fsync: %s", dir, sub, strerror(errno));
  }
}

int
vk_journal_roll_back(const struct vk_journal *j, int dirfd, const char *dir,
                     const struct vk_manifest *m)
{
  int failed = 0;
  for (size_t i = j->nr_steps; i-- > 0; )
    if (j->steps[i].action == VK_STEP_CREATE && j->steps[i].type == VK_STEP_FILE)
      failed += remove_step_file(dirfd, dir, m, j->steps[i].name);
  sync_step_dirs(j, VK_STEP_CREATE, dirfd, dir, true);
  for (size_t i = j->nr_steps; i-- > 0; )
    if (j->steps[i].action == VK_STEP_CREATE && j->steps[i].type == VK_STEP_DIRECTORY)
      failed += remove_step_dir(dirfd, dir, m, j->steps[i].name);
  return failed;
}

int
vk_journal_roll_forward(const struct vk_journal *j, int dirfd, const char *dir,
                        const struct vk_manifest *m)
{
  int failed = 0;
  for (size_t i = 0; i < j->nr_steps; i++)
    if (j->steps[i].action == VK_STEP_REMOVE && j->steps[i].type == VK_STEP_FILE)
      failed += remove_step_file(dirfd, dir, m, j->steps[i].name);
  sync_step_dirs(j, VK_STEP_REMOVE, dirfd, dir, false);
  for (size_t i = 0; i < j->nr_steps; i++)
    if (j->steps[i].action == VK_STEP_REMOVE && j->steps[i].type == VK_STEP_DIRECTORY)
      failed += remove_step_dir(dirfd, dir, m, j->steps[i].name);
  return failed;
}

/* ---- the journal of an image operation ---- */

static const char *const imageop_kind_names[] = {
  [VK_IMAGEOP_OVERLAY] = "overlay", [VK_IMAGEOP_COMMIT] = "commit",
};

const char *
vk_imageop_kind_name(enum vk_imageop_kind kind)
{
  return kind <= VK_IMAGEOP_COMMIT ? imageop_kind_names[kind] : "?";
}

void
vk_imageop_journal_clear(struct vk_imageop_journal *j)
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
  free(j->domain);
  free(j->uuid);
  memset(j, 0, sizeof *j);
}

void
vk_cleanup_imageop_journal(void *ptr)
{
  vk_imageop_journal_clear(ptr);
}

/* Set attribute NAME of N to VALUE, unless VALUE is NULL. */
static void
set_attr(xmlNodePtr n, const char *name, const char *value)
{
  if (value)
    xmlNewProp(n, (const xmlChar *)name, (const xmlChar *)value);
}

xmlDocPtr
vk_imageop_journal_build(const struct vk_imageop_journal *j)
{
  xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
  xmlNodePtr root = xmlNewNode(NULL, (const xmlChar *)"imageop");
  xmlDocSetRootElement(doc, root);
  set_attr(root, "kind", vk_imageop_kind_name(j->kind));
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
  return doc;
}

/* Whether P is an absolute path. */
static bool
absolute(const char *p)
{
  return p && p[0] == '/';
}

int
vk_imageop_journal_parse(xmlDocPtr doc, const char *path, const char *uuid,
                         struct vk_imageop_journal *j)
{
  CLEANUP_XPATHCTX xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  CLEANUP_FREE char *kind = vk_xpath_string(ctx, NULL, "/imageop/@kind");
  bool known = false;
  for (enum vk_imageop_kind k = VK_IMAGEOP_OVERLAY; k <= VK_IMAGEOP_COMMIT; k++)
    if (kind && strcmp(kind, imageop_kind_names[k]) == 0) {
      j->kind = k;
      known = true;
    }
  j->domain = vk_xpath_string(ctx, NULL, "/imageop/@domain");
  j->uuid = vk_xpath_string(ctx, NULL, "/imageop/@uuid");
  CLEANUP_XPATHOBJ xmlXPathObjectPtr disks = vk_xpath_nodes(ctx, NULL, "/imageop/disk");
  int n = vk_xpath_count(disks);
  j->d = vk_xcalloc(n ? n : 1, sizeof *j->d);
  for (int i = 0; i < n; i++) {
    xmlNodePtr node = disks->nodesetval->nodeTab[i];
    struct vk_imageop_journal_disk *d = &j->d[j->n++];
    d->target = vk_xpath_string(ctx, node, "@target");
    d->base = vk_xpath_string(ctx, node, "@base");
    d->image = vk_xpath_string(ctx, node, "@image");
    d->tmp = vk_xpath_string(ctx, node, "@tmp");
    d->active = vk_xpath_string(ctx, node, "@active");
    d->above = vk_xpath_string(ctx, node, "@above");
  }
  bool ok = known && j->uuid && strcmp(j->uuid, uuid) == 0 && j->n > 0;
  for (size_t i = 0; ok && i < j->n; i++) {
    const struct vk_imageop_journal_disk *d = &j->d[i];
    ok = d->target && absolute(d->base) && absolute(d->image) &&
         (j->kind == VK_IMAGEOP_OVERLAY ? absolute(d->tmp)
                                        : absolute(d->active) && (!d->above ||
                                                                  absolute(d->above)));
  }
  if (!ok) {
    vk_error(VK_EXIT_FAILURE, "%s: not a journal of an image operation on this domain: "
             "look at it and remove it by hand", path);
    vk_imageop_journal_clear(j);
    return -1;
  }
  return 0;
}
