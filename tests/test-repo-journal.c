/* Unit test of the backup repository (lib/repo.c), its transaction
 * journal: backups killed before their commit are rolled back, a rollback
 * that cannot finish keeps the journal, the previous journal format is
 * still recovered, and journals of other kinds (merge) are finished or
 * rolled back; a file a merge made on the way is removed before its
 * commit (never a listed one); hostile and forged journals are refused; a
 * copy's transaction (copy.h) is rolled back until its manifest lists its
 * points, and a damaged file is put back in place.
 * Cases that must fail run in a child so each one's exit status and
 * message can be checked.
 */
#include <config.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "journal.h"
#include "repo.h"
#include "util.h"
#include "repo-test.h"

/* ---- journal recovery ---- */

struct crash_case {
  const char *domain;
  enum vk_level level;
};

/* Begin a backup, write part of it, and die without committing. */
static int
begin_and_die(void *arg)
{
  const struct crash_case *c = arg;
  struct vk_repo *r = NULL;
  struct vk_backup *b = NULL;
  if (vk_repo_open(repo, c->domain, true, true, &r) < 0 ||
      vk_repo_begin(r, c->level, "crashed", NULL,
                    c->level == VK_LEVEL_FULL ? NULL : vk_repo_latest(r), vda, NULL, NULL, &b) < 0)
    return -1;
  CLEANUP_FREE char *path = vk_repo_path(r, b->disks[0].file);
  if (put(path, "partial", 7) < 0 || vk_repo_write_file(r, b->domain_xml, "<domain/>") < 0)
    return -1;
  raise(SIGKILL);
  return -1;
}

/* Begin while a journal is pending (in a child). */
static int
begin_while_pending(void *arg)
{
  struct vk_repo *r = NULL;
  struct vk_backup *b = NULL;
  if (vk_repo_open(repo, arg, false, true, &r) < 0)
    return -1;
  int rc = vk_repo_begin(r, VK_LEVEL_FULL, "again", NULL, NULL, vda, NULL, NULL, &b);
  vk_repo_close(r);
  return rc;
}

static const struct crash_case crash_cases[] = {
  { "crash-full", VK_LEVEL_FULL },
  { "crash-inc", VK_LEVEL_INCREMENTAL },
};

/* Backups killed before commit are rolled back from their journal. */
static void
test_recovery(void)
{
  for (size_t i = 0; i < sizeof crash_cases / sizeof crash_cases[0]; i++) {
    const struct crash_case *c = &crash_cases[i];
    struct vk_repo *r = NULL;
    if (c->level != VK_LEVEL_FULL) {
      CHECK(vk_repo_open(repo, c->domain, true, true, &r) == 0 &&
            make_backup(r, VK_LEVEL_FULL, "base", NULL, vda, "base", NULL) == 0, "base");
      vk_repo_close(r);
    }
    CLEANUP_FREE char *err = NULL;
    int rc = in_child(begin_and_die, (void *)c, &err);
    CHECK(rc == 128 + SIGKILL, "%s: child died: %d %s", c->domain, rc, err);
    free(err);
    rc = in_child(begin_while_pending, (void *)c->domain, &err);
    CHECK(rc == VK_EXIT_FAILURE && strstr(err, "must be recovered first"),
          "%s: begin while pending: %d %s", c->domain, rc, err);

    /* Without the lock the journal is not ours to look at. */
    CHECK(vk_repo_open(repo, c->domain, false, false, &r) == 0 && !vk_repo_pending(r),
          "%s: no journal without the lock", c->domain);
    vk_repo_close(r);

    r = NULL;
    if (vk_repo_open(repo, c->domain, false, true, &r) < 0) {
      CHECK(0, "%s: open", c->domain);
      continue;
    }
    const struct vk_backup *p = vk_repo_pending(r);
    CHECK(p && same(p->checkpoint, "crashed") && p->level == c->level && p->nr_disks == 1,
          "%s: journal names the backup", c->domain);
    if (p) {
      CLEANUP_FREE char *disk = vk_repo_path(r, p->disks[0].file);
      CLEANUP_FREE char *dx = vk_repo_path(r, p->domain_xml);
      CLEANUP_FREE char *chain = vk_repo_path(r, p->chain);
      CHECK(file_exists(disk) && file_exists(dx), "%s: partial files exist", c->domain);
      CHECK(vk_repo_recover(r) == 0, "%s: recover", c->domain);
      CHECK(!file_exists(disk) && !file_exists(dx), "%s: partial files removed", c->domain);
      CHECK(file_exists(chain) == (c->level != VK_LEVEL_FULL),
            "%s: chain directory removed only if new", c->domain);
      CHECK(!vk_repo_pending(r), "%s: journal gone", c->domain);
    }
    size_t n = vk_repo_manifest(r)->nr_backups;
    vk_repo_close(r);
    r = NULL;
    CHECK(vk_repo_open(repo, c->domain, false, true, &r) == 0 && !vk_repo_pending(r) &&
          vk_repo_manifest(r)->nr_backups == n, "%s: reopened clean", c->domain);
    vk_repo_close(r);
  }

  /* Killed after the manifest was written, before the journal was removed:
   * the backup is committed and the journal is dropped.
   */
  struct vk_repo *r = NULL;
  struct vk_backup *b = NULL;
  CHECK(vk_repo_open(repo, "late", true, true, &r) == 0, "open late");
  CLEANUP_FREE char *journal = vk_xasprintf("%s/late/pending.xml", repo);
  CLEANUP_FREE char *saved = NULL;
  size_t len = 0;
  if (vk_repo_begin(r, VK_LEVEL_FULL, "late", NULL, NULL, vda, NULL, NULL, &b) == 0) {
    saved = slurp(journal, &len);
    CLEANUP_FREE char *path = vk_repo_path(r, b->disks[0].file);
    CHECK(saved && put(path, "data", 4) == 0 &&
          vk_repo_write_file(r, b->domain_xml, "<domain/>") == 0 &&
          vk_repo_write_file(r, b->checkpoint_xml, "<domaincheckpoint/>") == 0 &&
          vk_repo_commit(r, b) == 0, "late commit");
  }
  vk_repo_close(r);
  CHECK(saved && put(journal, saved, len) == 0, "journal put back");
  r = NULL;
  CHECK(vk_repo_open(repo, "late", false, true, &r) == 0 && !vk_repo_pending(r) &&
        vk_repo_manifest(r)->nr_backups == 1 && !file_exists(journal),
        "journal of a committed backup dropped");
  if (r && vk_repo_latest(r)) {
    CLEANUP_FREE char *path = vk_repo_path(r, vk_repo_latest(r)->disks[0].file);
    CHECK(file_exists(path), "committed file kept");
  }
  vk_repo_close(r);
}

/* vk_repo_recover for in_child. */
static int
recover_in_child(void *arg)
{
  return vk_repo_recover(arg);
}

/* A rollback that cannot remove a file (a directory was put in its place)
 * keeps the journal and says so; once the obstacle is gone, the next run
 * finishes it.
 */
static void
test_recovery_incomplete(void)
{
  const struct crash_case c = { "stuck", VK_LEVEL_FULL };
  CLEANUP_FREE char *err = NULL;
  int rc = in_child(begin_and_die, (void *)&c, &err);
  CHECK(rc == 128 + SIGKILL, "stuck: child died: %d %s", rc, err);
  struct vk_repo *r = NULL;
  if (vk_repo_open(repo, c.domain, false, true, &r) < 0 || !vk_repo_pending(r)) {
    CHECK(0, "stuck: open with a pending journal");
    vk_repo_close(r);
    return;
  }
  CLEANUP_FREE char *disk = vk_repo_path(r, vk_repo_pending(r)->disks[0].file);
  CLEANUP_FREE char *inner = vk_xasprintf("%s/x", disk);
  CLEANUP_FREE char *journal = vk_xasprintf("%s/%s/pending.xml", repo, c.domain);
  CHECK(unlink(disk) == 0 && mkdir(disk, 0700) == 0 && put(inner, "x", 1) == 0,
        "stuck: a non-empty directory in place of the partial file");
  free(err);
  err = NULL;
  rc = in_child(recover_in_child, r, &err);
  CHECK(rc == VK_EXIT_FAILURE && strstr(err, "could not be removed") &&
        strstr(err, "journal") && file_exists(journal),
        "stuck: incomplete rollback keeps the journal: %d %s", rc, err);
  vk_repo_close(r);
  CHECK(unlink(inner) == 0 && rmdir(disk) == 0, "stuck: obstacle removed");
  r = NULL;
  CHECK(vk_repo_open(repo, c.domain, false, true, &r) == 0 && vk_repo_pending(r) &&
        vk_repo_recover(r) == 0 && !file_exists(journal),
        "stuck: the next run finishes the rollback");
  vk_repo_close(r);
}

/* ---- the transaction journal ---- */

/* What vckpt before the transaction journal (format version 1) wrote as
 * the journal of full backup "old" of domain DOMAIN.
 */
#define LEGACY_ID "full-20260101T000000Z"
#define LEGACY_CHAIN "20260101T000000Z"
static const char legacy_journal[] =
  "<pending version=\"1\">\n"
  "  <domain>\n"
  "    <name>legacy</name>\n"
  "  </domain>\n"
  "  <backup id=\"" LEGACY_ID "\" level=\"full\">\n"
  "    <chain>" LEGACY_CHAIN "</chain>\n"
  "    <checkpoint>old</checkpoint>\n"
  "    <start>1767225600</start>\n"
  "    <domainXML>" LEGACY_CHAIN "/" LEGACY_ID ".domain.xml</domainXML>\n"
  "    <checkpointXML>" LEGACY_CHAIN "/" LEGACY_ID ".checkpoint.xml</checkpointXML>\n"
  "    <disks>\n"
  "      <disk target=\"vda\">\n"
  "        <file>" LEGACY_CHAIN "/" LEGACY_ID ".vda.qcow2</file>\n"
  "      </disk>\n"
  "    </disks>\n"
  "  </backup>\n"
  "</pending>\n";

/* Write a version 2 journal of KIND for DOMAIN: committed once backup
 * COMMIT is WHEN ("listed"/"unlisted"), with STEPS (<step> elements).
 */
static int
put_journal(const char *domain, const char *kind, const char *commit, const char *when,
            const char *steps)
{
  CLEANUP_FREE char *path = vk_xasprintf("%s/%s/pending.xml", repo, domain);
  CLEANUP_FREE char *text = vk_xasprintf(
    "<pending version=\"2\" kind=\"%s\">\n"
    "  <domain><name>%s</name></domain>\n"
    "  <commit backup=\"%s\" when=\"%s\"/>\n"
    "  <steps>\n%s  </steps>\n"
    "</pending>\n", kind, domain, commit, when, steps);
  return put(path, text, strlen(text));
}

/* Journals: the previous version's still recovered; the backup's now
 * names its kind and steps; other kinds rolled back or finished on open.
 */
static void
test_journal(void)
{
  /* A journal left by the previous version is rolled back. */
  CLEANUP_FREE char *dom = vk_xasprintf("%s/legacy", repo);
  CLEANUP_FREE char *chain = vk_xasprintf("%s/" LEGACY_CHAIN, dom);
  CLEANUP_FREE char *disk = vk_xasprintf("%s/" LEGACY_ID ".vda.qcow2", chain);
  CLEANUP_FREE char *dx = vk_xasprintf("%s/" LEGACY_ID ".domain.xml", chain);
  CLEANUP_FREE char *journal = vk_xasprintf("%s/pending.xml", dom);
  mkdir(repo, 0700);
  CHECK(mkdir(dom, 0700) == 0 && mkdir(chain, 0700) == 0 && put(disk, "partial", 7) == 0 &&
        put(dx, "<domain/>", 9) == 0 &&
        put(journal, legacy_journal, strlen(legacy_journal)) == 0, "legacy set-up");
  struct vk_repo *r = NULL;
  CHECK(vk_repo_open(repo, "legacy", false, true, &r) == 0, "legacy: open");
  const struct vk_backup *p = r ? vk_repo_pending(r) : NULL;
  CHECK(p && same(p->id, LEGACY_ID) && same(p->checkpoint, "old") && p->nr_disks == 1,
        "legacy: the journal names the backup");
  CHECK(r && vk_repo_recover(r) == 0, "legacy: recover");
  CHECK(!file_exists(disk) && !file_exists(dx) && !file_exists(chain) &&
        !file_exists(journal), "legacy: files, chain and journal removed");
  vk_repo_close(r);

  /* The journal a backup writes now: kind, commit mark, steps. */
  r = NULL;
  struct vk_backup *b = NULL;
  CHECK(vk_repo_open(repo, "journal", true, true, &r) == 0 &&
        vk_repo_begin(r, VK_LEVEL_FULL, "j1", NULL, NULL, vda, NULL, NULL, &b) == 0, "begin");
  CLEANUP_FREE char *text = vk_xasprintf("%s/journal/pending.xml", repo);
  CLEANUP_FREE char *jt = slurp(text, NULL);
  CLEANUP_FREE char *mark = b ? vk_xasprintf("<commit backup=\"%s\" when=\"listed\"/>", b->id)
                              : NULL;
  CLEANUP_FREE char *dstep = b ? vk_xasprintf("<step action=\"create\" type=\"directory\">%s"
                                              "</step>", b->chain) : NULL;
  CHECK(jt && strstr(jt, "version=\"2\" kind=\"backup\"") && mark && strstr(jt, mark) &&
        strstr(jt, dstep) && strstr(jt, ".vda.qcow2</step>"), "backup journal: %s", jt);
  if (b)
    vk_repo_abort(r, b);
  vk_repo_close(r);

  /* A merge not committed (its point still listed) is rolled back: the
   * file it created goes, the one it was to remove stays.
   */
  r = NULL;
  const struct vk_backup *inc = NULL;
  CHECK(vk_repo_open(repo, "merge", true, true, &r) == 0 &&
        make_backup(r, VK_LEVEL_FULL, "m1", NULL, vda, "m1", NULL) == 0 &&
        make_backup(r, VK_LEVEL_INCREMENTAL, "m2", vk_repo_latest(r), vda, "m2", NULL) == 0 &&
        (inc = vk_repo_latest(r)) != NULL, "merge set-up");
  CLEANUP_FREE char *merged = inc ? vk_xasprintf("%s/merged.vda.qcow2", inc->chain) : NULL;
  CLEANUP_FREE char *merged_path = merged ? vk_repo_path(r, merged) : NULL;
  CLEANUP_FREE char *inc_path = inc ? vk_repo_path(r, inc->disks[0].file) : NULL;
  CLEANUP_FREE char *steps = inc ? vk_xasprintf(
    "    <step action=\"create\" type=\"file\">%s</step>\n"
    "    <step action=\"remove\" type=\"file\">%s</step>\n", merged, inc->disks[0].file) : NULL;
  CHECK(inc && put(merged_path, "merged", 6) == 0 &&
        put_journal("merge", "merge", inc->id, "unlisted", steps) == 0, "merge journal");
  vk_repo_close(r);
  CLEANUP_FREE char *err = NULL;
  int rc = in_child(open_locked, (void *)"merge", &err);
  CHECK(rc == 0 && strstr(err, "rolling back the interrupted merge"), "merge: %d %s", rc, err);
  CHECK(merged_path && !file_exists(merged_path) && file_exists(inc_path),
        "merge rolled back: created file removed, the listed one kept");
  CLEANUP_FREE char *mj = vk_xasprintf("%s/merge/pending.xml", repo);
  CHECK(!file_exists(mj), "merge journal removed");

  /* A merge committed (its point no longer listed) is finished: what it
   * was to remove goes, never a file the manifest names.
   */
  r = NULL;
  const struct vk_backup *full = NULL;
  CHECK(vk_repo_open(repo, "merged", true, true, &r) == 0 &&
        make_backup(r, VK_LEVEL_FULL, "n1", NULL, vda, "n1", NULL) == 0 &&
        (full = vk_repo_latest(r)) != NULL, "merged set-up");
  CLEANUP_FREE char *old = full ? vk_xasprintf("%s/old.vda.qcow2", full->chain) : NULL;
  CLEANUP_FREE char *old_path = old ? vk_repo_path(r, old) : NULL;
  CLEANUP_FREE char *full_path = full ? vk_repo_path(r, full->disks[0].file) : NULL;
  CLEANUP_FREE char *full_file = full ? vk_xstrdup(full->disks[0].file) : NULL;
  free(steps);
  steps = full ? vk_xasprintf(
    "    <step action=\"create\" type=\"file\">%s</step>\n"
    "    <step action=\"remove\" type=\"file\">%s</step>\n"
    "    <step action=\"remove\" type=\"file\">%s</step>\n",
    full->disks[0].file, old, full->disks[0].file) : NULL;
  CHECK(full && put(old_path, "old", 3) == 0 &&
        put_journal("merged", "merge", "inc-20260101T000000Z", "unlisted", steps) == 0,
        "merged journal");
  vk_repo_close(r);
  free(err);
  rc = in_child(open_locked, (void *)"merged", &err);
  CHECK(rc == 0 && strstr(err, "finishing the merge") && strstr(err, "not removing"),
        "merged: %d %s", rc, err);
  CHECK(old_path && !file_exists(old_path) && file_exists(full_path),
        "merge finished: the unlisted file removed, the listed one kept");

  /* A hostile merge journal: a chain directory that is a symbolic link
   * to a directory elsewhere, and a step naming a file through it.  The
   * file outside the repository stays.
   */
  CLEANUP_FREE char *hdom = vk_xasprintf("%s/hostile", repo);
  CLEANUP_FREE char *victim_dir = vk_xasprintf("%s/victim", tmpdir);
  CLEANUP_FREE char *victim = vk_xasprintf("%s/passwd", victim_dir);
  CLEANUP_FREE char *link = vk_xasprintf("%s/20240101T000000Z", hdom);
  CHECK(mkdir(hdom, 0700) == 0 && mkdir(victim_dir, 0700) == 0 &&
        put(victim, "root", 4) == 0 && symlink(victim_dir, link) == 0 &&
        put_journal("hostile", "merge", "inc-20260101T000000Z", "listed",
                    "    <step action=\"create\" type=\"file\">20240101T000000Z/passwd</step>\n")
        == 0, "hostile journal");
  free(err);
  rc = in_child(open_locked, (void *)"hostile", &err);
  CHECK(file_exists(victim), "hostile journal: the file behind a symlinked chain stays: %d %s",
        rc, err);
  /* A step outside any chain directory is refused when read. */
  CLEANUP_FREE char *hj = vk_xasprintf("%s/pending.xml", hdom);
  unlink(hj);
  CHECK(put_journal("hostile", "merge", "inc-20260101T000000Z", "listed",
                    "    <step action=\"create\" type=\"file\">manifest.xml</step>\n") == 0,
        "hostile journal 2");
  free(err);
  rc = in_child(open_locked, (void *)"hostile", &err);
  CHECK(rc == VK_EXIT_FAILURE && (strstr(err, "not a file in a chain directory") ||
                                   strstr(err, "does not match the manifest schema")),
        "hostile journal: a step outside the chains: %d %s", rc, err);

  /* A backup's journal may only name that backup's own files. */
  free(err);
  rc = in_child(begin_and_die, (void *)&(struct crash_case){ "forged", VK_LEVEL_FULL }, &err);
  CHECK(rc == 128 + SIGKILL, "forged: child died: %d %s", rc, err);
  CLEANUP_FREE char *fj = vk_xasprintf("%s/forged/pending.xml", repo);
  CLEANUP_FREE char *ft = slurp(fj, NULL);
  char *end = ft ? strstr(ft, "</steps>") : NULL;
  CLEANUP_FREE char *forged = end ? vk_xasprintf(
    "%.*s<step action=\"create\" type=\"file\">%s</step>%s", (int)(end - ft), ft,
    full_file, end) : NULL;
  CHECK(forged && unlink(fj) == 0 && put(fj, forged, strlen(forged)) == 0, "forged journal");
  free(err);
  rc = in_child(open_locked, (void *)"forged", &err);
  CHECK(rc == VK_EXIT_FAILURE && strstr(err, "must be those of its backup"),
        "forged: %d %s", rc, err);
}

/* vk_repo_merge_remove(ARG's journal, ARG's name) on domain "mremove" (in
 * a child).
 */
struct remove_case {
  const struct vk_journal *j;
  const char *name;
};

static int
merge_remove(void *arg)
{
  const struct remove_case *c = arg;
  struct vk_repo *r = NULL;
  if (vk_repo_open(repo, "mremove", false, true, &r) < 0)
    return -1;
  int rc = vk_repo_merge_remove(r, c->j, c->name);
  vk_repo_close(r);
  return rc;
}

/* A file a merge makes on the way (a CREATE step) can be removed before the
 * commit; a file the manifest lists, or one the journal does not create,
 * never.
 */
static void
test_merge_remove(void)
{
  struct vk_repo *r = NULL;
  const struct vk_backup *full = NULL;
  CHECK(vk_repo_open(repo, "mremove", true, true, &r) == 0 &&
        make_backup(r, VK_LEVEL_FULL, "r1", NULL, vda, "r1", NULL) == 0 &&
        (full = vk_repo_latest(r)) != NULL, "merge-remove set-up");
  if (!full) {
    vk_repo_close(r);
    return;
  }
  CLEANUP_FREE char *mid = vk_xasprintf("%s/mid.vda.qcow2", full->chain);
  CLEANUP_FREE char *other = vk_xasprintf("%s/other.vda.qcow2", full->chain);
  CLEANUP_FREE char *listed = vk_xstrdup(full->disks[0].file);
  CLEANUP_FREE char *mid_path = vk_repo_path(r, mid);
  CLEANUP_FREE char *other_path = vk_repo_path(r, other);
  CLEANUP_FREE char *listed_path = vk_repo_path(r, listed);
  vk_repo_close(r);
  struct vk_journal j = { .kind = VK_TXN_MERGE };
  vk_journal_add_step(&j, VK_STEP_CREATE, VK_STEP_FILE, mid);
  vk_journal_add_step(&j, VK_STEP_CREATE, VK_STEP_FILE, listed);
  vk_journal_add_step(&j, VK_STEP_REMOVE, VK_STEP_FILE, other);
  CHECK(put(mid_path, "mid", 3) == 0 && put(other_path, "other", 5) == 0, "files");
  CLEANUP_FREE char *err = NULL;
  int rc = in_child(merge_remove, &(struct remove_case){ &j, mid }, &err);
  CHECK(rc == 0 && !file_exists(mid_path), "a created file goes: %d %s", rc, err);
  free(err);
  rc = in_child(merge_remove, &(struct remove_case){ &j, listed }, &err);
  CHECK(rc == VK_EXIT_FAILURE && strstr(err, "not a file the merge made") &&
        file_exists(listed_path), "a listed file stays: %d %s", rc, err);
  free(err);
  rc = in_child(merge_remove, &(struct remove_case){ &j, other }, &err);
  CHECK(rc == VK_EXIT_FAILURE && file_exists(other_path),
        "a file the journal does not create stays: %d %s", rc, err);
  vk_journal_clear(&j);
}

/* The copy of backup B under another id (its start time START): its
 * chain, id and file names derived anew.
 */
static void
copy_point(struct vk_backup *nb, const struct vk_backup *b, long long start)
{
  vk_backup_copy(nb, b);
  nb->start = start;
  free(nb->chain);
  nb->chain = NULL;
  vk_backup_name(nb, 1, NULL, NULL);
}

/* Begin a copy of one point (journal J), make its files, and die. */
static int
copy_and_die(void *arg)
{
  const struct vk_journal *j = arg;
  struct vk_repo *r = NULL;
  if (vk_repo_open(repo, "copy", false, true, &r) < 0 || vk_repo_copy_begin(r, j) < 0 ||
      vk_repo_copy_chain(r, j, j->steps[0].name) < 0)
    return -1;
  for (size_t i = 1; i < j->nr_steps; i++)
    if (vk_repo_create_file(r, j->steps[i].name, "x", 1) < 0)
      return -1;
  raise(SIGKILL);
  return -1;
}

/* Put back (ARG) a file no backup lists: refused. */
static int
replace_unlisted(void *arg)
{
  struct vk_repo *r = NULL;
  CLEANUP_FREE char *tmp = NULL;
  if (vk_repo_open(repo, "copy", false, true, &r) < 0)
    return -1;
  int fd = vk_repo_replace_begin(r, arg, &tmp);
  vk_repo_close(r);
  return fd < 0 ? -1 : 0;
}

/* A copy's transaction: killed before its commit, rolled back by the next
 * locked open (its chain directory and files gone, the old point kept);
 * committed, the manifest lists the new point and the journal is gone.  A
 * damaged file is put back in place; a temporary file a killed repair left
 * goes with the next locked open.
 */
static void
test_copy(void)
{
  struct vk_repo *r = NULL;
  const struct vk_backup *full = NULL;
  CHECK(vk_repo_open(repo, "copy", true, true, &r) == 0 &&
        make_backup(r, VK_LEVEL_FULL, "c1", NULL, vda, "c1", NULL) == 0 &&
        (full = vk_repo_latest(r)) != NULL, "copy set-up");
  if (!full) {
    vk_repo_close(r);
    return;
  }
  struct vk_manifest next = { .domain = vk_xstrdup("copy"), .second_copy = true };
  next.backups = vk_xcalloc(2, sizeof *next.backups);
  vk_backup_copy(&next.backups[next.nr_backups++], full);
  struct vk_backup *nb = &next.backups[next.nr_backups++];
  copy_point(nb, full, full->start + 86400);
  struct vk_journal j = { .kind = VK_TXN_COPY, .commit_id = vk_xstrdup(nb->id),
                          .commit_listed = true };
  vk_journal_add_step(&j, VK_STEP_CREATE, VK_STEP_DIRECTORY, nb->chain);
  vk_journal_add_step(&j, VK_STEP_CREATE, VK_STEP_FILE, nb->disks[0].file);
  vk_journal_add_step(&j, VK_STEP_CREATE, VK_STEP_FILE, nb->domain_xml);
  vk_journal_add_step(&j, VK_STEP_CREATE, VK_STEP_FILE, nb->checkpoint_xml);
  CLEANUP_FREE char *chain = vk_repo_path(r, nb->chain);
  /* NEXT goes to the repository when the copy commits. */
  CLEANUP_FREE char *unlisted = vk_xasprintf("%s/unlisted.vda.qcow2", nb->chain);
  CLEANUP_FREE char *old = vk_repo_path(r, full->disks[0].file);
  CLEANUP_FREE char *full_file = vk_xstrdup(full->disks[0].file);
  vk_repo_close(r);

  CLEANUP_FREE char *err = NULL;
  int rc = in_child(copy_and_die, &j, &err);
  CHECK(rc == 128 + SIGKILL && file_exists(chain), "copy killed: %d %s", rc, err);
  free(err);
  rc = in_child(open_locked, (void *)"copy", &err);
  CHECK(rc == 0 && strstr(err, "rolling back the interrupted copy") && !file_exists(chain) &&
        file_exists(old), "copy rolled back: %d %s", rc, err);

  r = NULL;
  CHECK(vk_repo_open(repo, "copy", false, true, &r) == 0 && vk_repo_copy_begin(r, &j) == 0 &&
        vk_repo_copy_chain(r, &j, nb->chain) == 0 &&
        vk_repo_create_file(r, nb->disks[0].file, "c2.vda", 6) == 0 &&
        vk_repo_seal_disk(r, &nb->disks[0]) == 0 &&
        vk_repo_create_file(r, nb->domain_xml, "<domain/>", 9) == 0 &&
        vk_repo_create_file(r, nb->checkpoint_xml, "<domaincheckpoint/>", 19) == 0 &&
        vk_repo_copy_commit(r, &next, &j) == 0, "copy committed");
  CHECK(r && vk_repo_manifest(r)->nr_backups == 2 && vk_repo_manifest(r)->second_copy,
        "the copy's point listed, the manifest marked");
  CLEANUP_FREE char *cj = vk_xasprintf("%s/copy/pending.xml", repo);
  CHECK(!file_exists(cj), "copy journal removed");

  /* A damaged file put back; one no backup lists is not. */
  CLEANUP_FREE char *tmp = NULL;
  int fd = r ? vk_repo_replace_begin(r, full_file, &tmp) : -1;
  CHECK(fd >= 0 && write(fd, "c1.vda", 6) == 6 && close(fd) == 0 &&
        vk_repo_replace_end(r, full_file, tmp, true) == 0, "put back");
  CLEANUP_FREE char *back = slurp(old, NULL);
  CHECK(same(back, "c1.vda"), "put back: %s", back);
  free(tmp);
  tmp = NULL;
  fd = r ? vk_repo_replace_begin(r, full_file, &tmp) : -1;
  CHECK(fd >= 0 && close(fd) == 0 && tmp, "a repair left half made");
  CLEANUP_FREE char *tmp_path = tmp ? vk_repo_path(r, tmp) : NULL;
  vk_repo_close(r);
  free(err);
  rc = in_child(open_locked, (void *)"copy", &err);
  CHECK(rc == 0 && tmp_path && !file_exists(tmp_path), "its temporary file swept: %d %s", rc,
        err);
  free(err);
  rc = in_child(replace_unlisted, unlisted, &err);
  CHECK(rc == VK_EXIT_FAILURE && strstr(err, "not a file of a committed backup"),
        "an unlisted file is not put back: %d %s", rc, err);
  vk_journal_clear(&j);
  vk_manifest_clear(&next);
}

static const struct repo_test tests[] = {
  { "recovery", test_recovery },
  { "recovery-incomplete", test_recovery_incomplete },
  { "journal", test_journal },
  { "merge-remove", test_merge_remove },
  { "copy", test_copy },
};

/* The cases above, or the one named by argv[1]. */
int
main(int argc, char **argv)
{
  return repo_test_main("test-repo-journal", tests, sizeof tests / sizeof tests[0], argc, argv);
}
