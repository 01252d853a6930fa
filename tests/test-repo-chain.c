/* Unit test of the backup repository (lib/repo.c): a commit stopped by a
 * signal, file sizes and modes, look-ups of points (a checkpoint named
 * like another backup's id is never guessed), and the chain check over
 * real qcow2 files.  Cases that must fail run in a child so each one's
 * exit status and message can be checked.
 */
#include <config.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "process.h"
#include "repo.h"
#include "util.h"
#include "repo-test.h"

/* ---- stop signal, look-ups, chain check ---- */

/* Commit with a stop signal pending (in a child): the hashing stops, the
 * commit fails as interrupted and the caller rolls back.
 */
static int
commit_stopped(void *arg)
{
  struct vk_repo *r = NULL;
  struct vk_backup *b = NULL;
  if (vk_repo_open(repo, "stopped", true, true, &r) < 0)
    return -1;
  int rc = vk_repo_begin(r, VK_LEVEL_FULL, "s1", NULL, NULL, vda, NULL, NULL, &b);
  if (rc == 0) {
    CLEANUP_FREE char *path = vk_repo_path(r, b->disks[0].file);
    if (put(path, "data", 4) < 0 || vk_repo_write_file(r, b->domain_xml, "<a/>") < 0 ||
        vk_repo_write_file(r, b->checkpoint_xml, "<b/>") < 0)
      rc = -2;
  }
  if (rc == 0) {
    vk_stop_signal = SIGTERM;
    rc = vk_repo_commit(r, b);
    vk_stop_signal = 0;
  }
  if (b)
    vk_repo_abort(r, b);
  vk_repo_close(r);
  return rc;
}

/* A qcow2 file at RELATIVE in R, on BACKING (a name, or NULL). */
static int
make_qcow2(struct vk_repo *r, const char *relative, const char *backing)
{
  CLEANUP_FREE char *path = vk_repo_path(r, relative);
  char *plain[] = { (char *)QEMU_IMG, "create", "-q", "-f", "qcow2", path, (char *)"1M", NULL };
  char *over[] = { (char *)QEMU_IMG, "create", "-q", "-u", "-f", "qcow2", "-F", "qcow2",
                   "-b", (char *)backing, path, (char *)"1M", NULL };
  return vk_run(backing ? over : plain);
}

/* A full and an incremental backup of real qcow2 files in domain "chain". */
static int
make_chain(struct vk_repo *r)
{
  const char *chks[] = { "c1", "c2", "c1" };
  for (int i = 0; i < 3; i++) {
    struct vk_backup *b = NULL;
    const struct vk_backup *p = i == 1 ? vk_repo_latest(r) : NULL;
    if (vk_repo_begin(r, p ? VK_LEVEL_INCREMENTAL : VK_LEVEL_FULL, chks[i], NULL, p, vda,
                      NULL, NULL, &b) < 0)
      return -1;
    const char *base = b->disks[0].backing ? strrchr(b->disks[0].backing, '/') + 1 : NULL;
    b->disks[0].virtual_size = 1 << 20;
    if (make_qcow2(r, b->disks[0].file, base) < 0 ||
        vk_repo_write_file(r, b->domain_xml, "<domain/>") < 0 ||
        vk_repo_write_file(r, b->checkpoint_xml, "<domaincheckpoint/>") < 0 ||
        vk_repo_commit(r, b) < 0) {
      vk_repo_abort(r, b);
      return -1;
    }
    /* A new chain starts at a later second. */
    if (i == 1)
      sleep(1);
  }
  return 0;
}

/* vk_repo_find_point on a name two backups share (in a child). */
static int
ambiguous_point(void *arg)
{
  struct vk_repo *r = NULL;
  const struct vk_backup *b = NULL;
  if (vk_repo_open(repo, "chain", false, false, &r) < 0)
    return -1;
  int rc = vk_repo_find_point(r, (const char *)arg, &b);
  vk_repo_close(r);
  return rc;
}

/* vk_repo_find_point in repository "shadow" (in a child). */
static int
shadow_point(void *arg)
{
  struct vk_repo *r = NULL;
  const struct vk_backup *b = NULL;
  if (vk_repo_open(repo, "shadow", false, false, &r) < 0)
    return -1;
  int rc = vk_repo_find_point(r, (const char *)arg, &b);
  vk_repo_close(r);
  return rc;
}

/* A checkpoint named like another backup's id: --at never guesses. */
static void
test_shadow(void)
{
  struct vk_repo *r = NULL;
  struct vk_backup *b = NULL;
  if (vk_repo_open(repo, "shadow", true, true, &r) < 0 ||
      make_backup(r, VK_LEVEL_FULL, "s1", NULL, vda, "one", &b) < 0) {
    CHECK(false, "shadow: first backup");
    vk_repo_close(r);
    return;
  }
  CLEANUP_FREE char *id = vk_xstrdup(b->id);
  CHECK(make_backup(r, VK_LEVEL_FULL, id, NULL, vda, "two", NULL) == 0,
        "shadow: a checkpoint named like the first backup's id");
  vk_repo_close(r);
  char *err = NULL;
  int rc = in_child(shadow_point, id, &err);
  CHECK(rc == VK_EXIT_USAGE && strstr(err, "ambiguous"), "shadowed id: %d %s", rc, err);
  free(err);
}

/* The stop signal, file sizes and modes, points, and the chain check. */
static void
test_chain(void)
{
  char *err = NULL;
  int rc = in_child(commit_stopped, NULL, &err);
  CHECK(rc == VK_EXIT_INTERRUPTED && strstr(err, "interrupted by signal 15"),
        "commit with a stop signal: %d %s", rc, err);
  free(err);
  CLEANUP_FREE char *sdir = vk_xasprintf("%s/stopped", repo);
  CLEANUP_FREE char *sman = vk_xasprintf("%s/manifest.xml", sdir);
  CLEANUP_FREE char *sjournal = vk_xasprintf("%s/pending.xml", sdir);
  CHECK(!file_exists(sman) && !file_exists(sjournal) && count_temps(sdir) == 0,
        "an interrupted commit leaves nothing");

  struct vk_repo *r = NULL;
  if (vk_repo_open(repo, "chain", true, true, &r) < 0 || make_chain(r) < 0) {
    CHECK(false, "cannot make the chain");
    vk_repo_close(r);
    return;
  }
  const struct vk_manifest *m = vk_repo_manifest(r);
  CHECK(m->nr_backups == 3, "3 backups");
  const struct vk_backup *full = &m->backups[0], *inc = &m->backups[1], *full2 = &m->backups[2];
  CLEANUP_FREE char *fpath = vk_repo_path(r, full->disks[0].file);
  CLEANUP_FREE char *ipath = vk_repo_path(r, inc->disks[0].file);
  struct stat st;
  CHECK(stat(fpath, &st) == 0 && (uint64_t)st.st_size == full->disks[0].file_size &&
        (st.st_mode & 07777) == 0600, "size recorded, mode 0600: %llu %o",
        (unsigned long long)full->disks[0].file_size, st.st_mode & 07777);
  /* Points: ids, a unique name, an ambiguous name. */
  const struct vk_backup *b = NULL;
  CHECK(vk_repo_find_by_id(r, inc->id) == inc, "find by id");
  CHECK(vk_repo_find_point(r, full->id, &b) == 0 && b == full, "point by id");
  CHECK(vk_repo_find_point(r, "c2", &b) == 0 && b == inc, "point by a unique name");
  CHECK(vk_repo_find_point(r, NULL, &b) == 0 && b == full2, "the latest point");
  rc = in_child(ambiguous_point, (void *)"c1", &err);
  CHECK(rc == VK_EXIT_USAGE && strstr(err, full->id) && strstr(err, full2->id),
        "ambiguous name: %d %s", rc, err);
  free(err);
  rc = in_child(ambiguous_point, (void *)"nope", &err);
  CHECK(rc == VK_EXIT_NOT_FOUND, "unknown point: %d %s", rc, err);
  free(err);
  /* The chain check: sound, then each kind of damage. */
  char *why = NULL;
  CHECK(vk_repo_check_chain(r, inc, &why) == 0 && !why, "sound chain: %s", why);
  CLEANUP_FREE char *saved = vk_xasprintf("%s.saved", fpath);
  CHECK(rename(fpath, saved) == 0, "move the full away");
  CHECK(vk_repo_check_chain(r, inc, &why) == 1 && why && strstr(why, full->disks[0].file) &&
        strstr(why, "missing"), "missing parent: %s", why);
  free(why);
  CHECK(mkfifo(fpath, 0600) == 0, "mkfifo");
  CHECK(vk_repo_check_chain(r, inc, &why) == 1 && why && strstr(why, "not a regular file"),
        "a FIFO in the chain: %s", why);
  free(why);
  unlink(fpath);
  CHECK(symlink(saved, fpath) == 0, "symlink");
  CHECK(vk_repo_check_chain(r, inc, &why) == 1 && why && strstr(why, "symbolic link"),
        "a symlink in the chain: %s", why);
  free(why);
  unlink(fpath);
  CHECK(rename(saved, fpath) == 0, "move the full back");
  CHECK(truncate(fpath, full->disks[0].file_size - 1) == 0, "truncate");
  CLEANUP_FREE char *want = vk_xasprintf("file %s: size %llu, the manifest says %llu",
                                         full->disks[0].file, (unsigned long long)
                                         full->disks[0].file_size - 1, (unsigned long long)
                                         full->disks[0].file_size);
  CHECK(vk_repo_check_chain(r, inc, &why) == 1 && why && strcmp(why, want) == 0,
        "truncated parent: %s", why);
  free(why);
  CHECK(vk_repo_check_chain(r, full2, &why) == 0, "another chain is sound: %s", why);
  /* The incremental's header names another backing file. */
  CHECK(truncate(fpath, full->disks[0].file_size) == 0, "untruncate");
  unlink(ipath);
  CHECK(make_qcow2(r, inc->disks[0].file, "elsewhere.qcow2") == 0, "new overlay");
  CHECK(vk_repo_check_chain(r, inc, &why) == 1 && why && strstr(why, "backing file is"),
        "wrong backing file: %s", why);
  free(why);
  vk_repo_close(r);
}

static const struct repo_test tests[] = {
  { "shadow", test_shadow },
  { "chain", test_chain },
};

/* The cases above, or the one named by argv[1]. */
int
main(int argc, char **argv)
{
  return repo_test_main("test-repo-chain", tests, sizeof tests / sizeof tests[0], argc, argv);
}
