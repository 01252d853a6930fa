/* Unit test of the backup repository (src/repo.c): backups round-trip
 * through the manifest, the lock, journal recovery, name checks, corrupted
 * manifests, and commits killed at random instants.  Cases that must fail
 * run in a child so each one's exit status and message can be checked.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "repo.h"
#include "util.h"

static char *tmpdir;
static char *repo;       /* TMPDIR/repo */
static int errors;
static unsigned seed;    /* of rand(): printed, and taken from $VCKPT_TEST_SEED */

#define CHECK(cond, ...)                                        \
  do {                                                          \
    if (!(cond)) {                                              \
      fprintf(stderr, "FAIL: %s:%d: ", __func__, __LINE__);     \
      fprintf(stderr, __VA_ARGS__);                             \
      fputc('\n', stderr);                                      \
      errors++;                                                 \
    }                                                           \
  } while (0)

/* Remove a directory tree (test scratch space only). */
static void
rm_rf(const char *path)
{
  DIR *d = opendir(path);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
        continue;
      CLEANUP_FREE char *sub = vk_xasprintf("%s/%s", path, e->d_name);
      rm_rf(sub);
    }
    closedir(d);
    rmdir(path);
  } else
    unlink(path);
}

/* Whether PATH exists (a dangling symlink counts). */
static bool
file_exists(const char *path)
{
  struct stat st;
  return lstat(path, &st) == 0;
}

/* Read a whole file, NULL if absent (NUL bytes allowed; *LEN is the size). */
static char *
slurp(const char *path, size_t *len)
{
  FILE *f = fopen(path, "r");
  if (!f)
    return NULL;
  size_t cap = 4096, n = 0;
  char *buf = vk_xmalloc(cap + 1);
  size_t got;
  while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap)
      buf = vk_xrealloc(buf, (cap *= 2) + 1);
  }
  fclose(f);
  buf[n] = '\0';
  if (len)
    *len = n;
  return buf;
}

/* Create PATH with CONTENT; O_EXCL, as QEMU's target would be new. */
static int
put(const char *path, const char *content, size_t len)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return -1;
  int rc = write(fd, content, len) == (ssize_t)len ? 0 : -1;
  close(fd);
  return rc;
}

/* Run FN(ARG) in a child, its stderr captured in *ERR; returns the child's
 * exit status: 0 if FN returned 0, else the status vk_error chose, or
 * 128+signal.
 */
static int
in_child(int (*fn)(void *), void *arg, char **err)
{
  static int n;
  CLEANUP_FREE char *errfile = vk_xasprintf("%s/stderr.%d", tmpdir, n++);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || dup2(fd, 2) < 0)
      _exit(99);
    close(fd);
    if (vk_error_reported()) {
      fprintf(stderr, "test bug: an error was reported before the case\n");
      _exit(98);
    }
    int rc = fn(arg);
    fflush(stderr);
    _exit(rc == 0 ? 0 : vk_exit_status());
  }
  int status = 0;
  waitpid(pid, &status, 0);
  *err = slurp(errfile, NULL);
  if (!*err)
    *err = vk_xstrdup("");
  unlink(errfile);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Make a backup with fake disk files holding PAYLOAD.TARGET. */
static int
make_backup(struct vk_repo *r, enum vk_level level, const char *chk,
            const struct vk_backup *parent, char *const *targets, const char *payload,
            struct vk_backup **out)
{
  struct vk_backup *b = NULL;
  if (vk_repo_begin(r, level, chk, NULL, parent, targets, NULL, NULL, &b) < 0)
    return -1;
  for (size_t i = 0; i < b->nr_disks; i++) {
    CLEANUP_FREE char *path = vk_repo_path(r, b->disks[i].file);
    CLEANUP_FREE char *data = vk_xasprintf("%s.%s", payload, b->disks[i].target);
    if (put(path, data, strlen(data)) < 0) {
      fprintf(stderr, "cannot create %s: %m\n", path);
      vk_repo_abort(r, b);
      return -1;
    }
    b->disks[i].virtual_size = UINT64_C(1) << 30;
    b->disks[i].bytes = strlen(data);
  }
  if (vk_repo_write_file(r, b->domain_xml, "<domain type='kvm'><name>x</name></domain>\n") < 0 ||
      vk_repo_write_file(r, b->checkpoint_xml, "<domaincheckpoint/>\n") < 0 ||
      vk_repo_commit(r, b) < 0) {
    vk_repo_abort(r, b);
    return -1;
  }
  if (out)
    *out = b;
  return 0;
}

/* Compare two strings that may be NULL. */
static bool
same(const char *a, const char *b)
{
  return a == b || (a && b && strcmp(a, b) == 0);
}

/* Whether two backups are equal field by field. */
static bool
same_backup(const struct vk_backup *a, const struct vk_backup *b)
{
  if (!same(a->id, b->id) || !same(a->chain, b->chain) || a->level != b->level ||
      !same(a->checkpoint, b->checkpoint) || !same(a->since, b->since) ||
      !same(a->parent, b->parent) || a->start != b->start || a->end != b->end ||
      !same(a->domain_xml, b->domain_xml) || !same(a->checkpoint_xml, b->checkpoint_xml) ||
      a->nr_disks != b->nr_disks)
    return false;
  for (size_t i = 0; i < a->nr_disks; i++) {
    const struct vk_backup_disk *x = &a->disks[i], *y = &b->disks[i];
    if (!same(x->target, y->target) || !same(x->file, y->file) ||
        !same(x->backing, y->backing) || x->virtual_size != y->virtual_size ||
        x->bytes != y->bytes || !same(x->checksum, y->checksum) ||
        x->checksum_type != y->checksum_type)
      return false;
  }
  return true;
}

/* Count our temporary files left anywhere under DIR. */
static int
count_temps(const char *dir)
{
  int n = 0;
  DIR *d = opendir(dir);
  if (!d)
    return 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, ".tmp.", 5) == 0)
      n++;
    else if (e->d_name[0] != '.' && e->d_type == DT_DIR) {
      CLEANUP_FREE char *sub = vk_xasprintf("%s/%s", dir, e->d_name);
      n += count_temps(sub);
    }
  }
  closedir(d);
  return n;
}

/* ---- SHA-256 and XXH3-128 known answers ---- */

static const struct {
  size_t len;          /* of TEXT, or of that many "a" */
  const char *text;    /* used instead when set */
  const char *sha256;
  const char *xxh3;    /* as xxh128sum prints it */
} hashes[] = {
  { 0, "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "99aa06d3014798d86001c324468d497f" },
  { 3, "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    "06b05ab6733a618578af5f94892f3950" },
  { 1000000, NULL, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
    "a545df8e384a9579b1fd6fae5285c4eb" },
  { 1048576, NULL, "9bc1b2a288b26af7257a36277ae3816a7d4f16e89c1e7e77d0a5c48bad62b360",
    "d9c8388c188701b8c9b8a70a3f30f7b1" },
  { 1048577, NULL, "4a3f0c0c213adea174f9a3d4c13177315b588bdb2e9c1012d3d0bf0453ca0f6a",
    "500e3d2743b6c231ef34b2ae16936ab0" },
  { 3000000, NULL, "2a152c894398719c0570f83fac34ac03a0f6e8e474b995c2403aa5434f7b9dd4",
    "9220778898dfe2af488fe7c89469a712" },
};

/* vk_sum_file and vk_sum_buf of both algorithms against known answers,
 * across the 1 MiB read size.
 */
static void
test_sha256(void)
{
  for (size_t i = 0; i < sizeof hashes / sizeof hashes[0]; i++) {
    CLEANUP_FREE char *path = vk_xasprintf("%s/hash%zu", tmpdir, i);
    CLEANUP_FREE char *data = vk_xmalloc(hashes[i].len + 1);
    if (hashes[i].text)
      memcpy(data, hashes[i].text, hashes[i].len);
    else
      memset(data, 'a', hashes[i].len);
    char hex[VK_SUM_HEX_MAX] = "";
    CHECK(put(path, data, hashes[i].len) == 0, "create %s", path);
    CHECK(vk_sum_file(VK_SUM_SHA256, path, hex) == 0 && strcmp(hex, hashes[i].sha256) == 0,
          "sha256 of %zu bytes: %s", hashes[i].len, hex);
    CHECK(vk_sum_file(VK_SUM_XXH3_128, path, hex) == 0 && strcmp(hex, hashes[i].xxh3) == 0,
          "xxh3-128 of %zu bytes: %s", hashes[i].len, hex);
    CHECK(vk_sum_buf(VK_SUM_XXH3_128, data, hashes[i].len, hex) == 0 &&
          strcmp(hex, hashes[i].xxh3) == 0, "xxh3-128 of %zu bytes in memory", hashes[i].len);
    CHECK(vk_sum_buf(VK_SUM_SHA256, data, hashes[i].len, hex) == 0 &&
          strcmp(hex, hashes[i].sha256) == 0, "sha256 of %zu bytes in memory", hashes[i].len);
    unlink(path);
  }
}

/* ---- round trip ---- */

static char *const vda_vdb[] = { (char *)"vda", (char *)"vdb", NULL };
static char *const vda[] = { (char *)"vda", NULL };
static char *const vdc[] = { (char *)"vdc", NULL };
#define UUID1 "4dea22b3-1d52-d8f3-2516-782e98ab3fa0"
#define UUID2 "4dea22b3-1d52-d8f3-2516-782e98ab3fa1"

/* Open the repository before it exists (in a child). */
static int
open_missing(void *arg)
{
  struct vk_repo *r = NULL;
  return vk_repo_open(repo, "web 1", false, true, &r);
}

/* vk_repo_check_uuid with another UUID (in a child). */
static int
other_uuid(void *arg)
{
  struct vk_repo *r = NULL;
  if (vk_repo_open(repo, "web 1", false, false, &r) < 0)
    return -1;
  int rc = vk_repo_check_uuid(r, UUID2);
  vk_repo_close(r);
  return rc;
}

/* An incremental backup of a disk its parent lacks (in a child). */
static int
disk_not_in_parent(void *arg)
{
  struct vk_repo *r = NULL;
  struct vk_backup *b = NULL;
  if (vk_repo_open(repo, "web 1", false, true, &r) < 0)
    return -1;
  int rc = vk_repo_begin(r, VK_LEVEL_INCREMENTAL, "x1", NULL, vk_repo_latest(r), vdc, NULL, NULL, &b);
  vk_repo_close(r);
  return rc;
}

/* Commit a backup whose disk file was never written (in a child). */
static int
commit_missing_disk(void *arg)
{
  struct vk_repo *r = NULL;
  struct vk_backup *b = NULL;
  if (vk_repo_open(repo, "web 1", false, true, &r) < 0)
    return -1;
  int rc = vk_repo_begin(r, VK_LEVEL_FULL, "x3", NULL, NULL, vda, NULL, NULL, &b);
  if (rc == 0 && (vk_repo_write_file(r, b->domain_xml, "<a/>") < 0 ||
                  vk_repo_write_file(r, b->checkpoint_xml, "<b/>") < 0))
    rc = -2;
  if (rc == 0)
    rc = vk_repo_commit(r, b);
  if (b)
    vk_repo_abort(r, b);
  vk_repo_close(r);
  return rc;
}

/* Open an existing manifest with $VCKPT_XMLDIR set to ARG (in a child). */
static int
no_schema(void *arg)
{
  struct vk_repo *r = NULL;
  setenv("VCKPT_XMLDIR", arg, 1);
  if (vk_repo_open(repo, "web 1", false, false, &r) < 0)
    return -1;
  vk_repo_close(r);
  return 0;
}

/* Write a file of a backup twice (in a child): never replaced. */
static int
write_twice(void *arg)
{
  struct vk_repo *r = NULL;
  struct vk_backup *b = NULL;
  if (vk_repo_open(repo, "web 1", false, true, &r) < 0)
    return -1;
  int rc = vk_repo_begin(r, VK_LEVEL_FULL, "x2", NULL, NULL, vda, NULL, NULL, &b);
  if (rc == 0 && vk_repo_write_file(r, b->domain_xml, "<a/>") == 0)
    rc = vk_repo_write_file(r, b->domain_xml, "<b/>");
  if (b)
    vk_repo_abort(r, b);
  vk_repo_close(r);
  return rc;
}

/* Full, incremental, differential and new-chain backups survive a reopen. */
static void
test_roundtrip(void)
{
  struct vk_repo *r = NULL, *r2 = NULL;
  struct vk_backup *full = NULL, *inc = NULL, *diff = NULL, *full2 = NULL;
  CLEANUP_FREE char *err = NULL;
  int rc = in_child(open_missing, NULL, &err);
  CHECK(rc == VK_EXIT_NOT_FOUND && strstr(err, "repository ") && strstr(err, "No such file"),
        "open of a missing repository: %d %s", rc, err);
  free(err);
  mkdir(repo, 0700);
  rc = in_child(open_missing, NULL, &err);
  CHECK(rc == VK_EXIT_NOT_FOUND && strstr(err, "no backups of domain 'web 1'"),
        "open of a missing domain: %d %s", rc, err);
  free(err);
  err = NULL;
  if (vk_repo_open(repo, "web 1", true, true, &r) < 0) {
    CHECK(0, "open");
    return;
  }
  CLEANUP_FREE char *dir = vk_xasprintf("%s/web 1", repo);
  CHECK(strcmp(vk_repo_dir(r), dir) == 0, "dir %s", vk_repo_dir(r));
  CHECK(vk_repo_manifest(r)->nr_backups == 0 && !vk_repo_latest(r), "empty manifest");
  CHECK(vk_repo_check_uuid(r, UUID1) == 0, "uuid");

  CHECK(make_backup(r, VK_LEVEL_FULL, "c1", NULL, vda_vdb, "full", &full) == 0, "full");
  if (!full) {
    vk_repo_close(r);
    return;
  }
  char full_id[64], chain[64];
  snprintf(full_id, sizeof full_id, "%s", full->id);
  snprintf(chain, sizeof chain, "%s", full->chain);
  CHECK(strncmp(full_id, "full-", 5) == 0 && strcmp(full_id + 5, chain) == 0 &&
        strlen(chain) == 16 && chain[8] == 'T' && chain[15] == 'Z', "ids %s %s", full_id, chain);
  CLEANUP_FREE char *f0 = vk_xasprintf("%s/%s.vda.qcow2", chain, full_id);
  CHECK(same(full->disks[0].file, f0) && !full->disks[0].backing, "file %s",
        full->disks[0].file);
  CLEANUP_FREE char *p0 = vk_repo_path(r, full->disks[0].file);
  char hex[VK_SUM_HEX_MAX];
  CHECK(full->disks[0].checksum_type == VK_SUM_XXH3_128 &&
        vk_sum_file(VK_SUM_XXH3_128, p0, hex) == 0 && same(hex, full->disks[0].checksum),
        "checksum");
  CHECK(full->end >= full->start && full->start > 0, "times");

  CHECK(make_backup(r, VK_LEVEL_INCREMENTAL, "c2", vk_repo_latest(r), vda_vdb, "inc", &inc) == 0,
        "incremental");
  CHECK(inc && strncmp(inc->id, "inc-", 4) == 0 && same(inc->chain, chain) &&
        same(inc->parent, full_id) && same(inc->since, "c1") &&
        same(inc->disks[1].backing, vk_repo_chain_full(r, chain)->disks[1].file),
        "incremental stacks on the full backup");
  CHECK(make_backup(r, VK_LEVEL_DIFFERENTIAL, "c3", vk_repo_chain_full(r, chain), vda, "diff",
                    &diff) == 0, "differential");
  CHECK(diff && same(diff->parent, full_id) && same(diff->since, "c1") &&
        strncmp(diff->id, "diff-", 5) == 0, "differential stacks on the full backup");
  CHECK(make_backup(r, VK_LEVEL_FULL, "c4", NULL, vda, "full2", &full2) == 0, "second full");
  CHECK(full2 && !same(full2->chain, chain) && !same(full2->id, full_id),
        "second full starts a new chain: %s", full2 ? full2->chain : "");
  CHECK(make_backup(r, VK_LEVEL_INCREMENTAL, "c5", vk_repo_find_by_checkpoint(r, "c2"),
                    vda, "inc2", NULL) == 0, "incremental from an older checkpoint");

  /* Reopen without the lock while R holds it: the same manifest. */
  CHECK(vk_repo_open(repo, "web 1", false, false, &r2) == 0, "reopen");
  if (r2) {
    const struct vk_manifest *a = vk_repo_manifest(r), *b = vk_repo_manifest(r2);
    CHECK(a->nr_backups == 5 && b->nr_backups == 5, "5 backups: %zu", b->nr_backups);
    for (size_t i = 0; i < a->nr_backups && i < b->nr_backups; i++)
      CHECK(same_backup(&a->backups[i], &b->backups[i]), "backup %zu round-trips", i);
    CHECK(same(b->domain, "web 1") && same(b->uuid, UUID1), "domain and uuid");
    const struct vk_backup *c2 = vk_repo_find_by_checkpoint(r2, "c2");
    const struct vk_backup *c5 = vk_repo_find_by_checkpoint(r2, "c5");
    CHECK(c2 && c2->level == VK_LEVEL_INCREMENTAL && c5 && same(c5->parent, c2->id) &&
          same(c5->disks[0].backing, c2->disks[0].file), "look-ups");
    CHECK(vk_repo_latest(r2) == c5, "latest");
    CHECK(!vk_repo_find_by_checkpoint(r2, "nope") && !vk_repo_chain_full(r2, "nope"),
          "look-ups of unknown names");
    CHECK(!vk_repo_pending(r2), "no journal");
    vk_repo_close(r2);
  }
  vk_repo_close(r);

  CLEANUP_FREE char *journal = vk_xasprintf("%s/pending.xml", dir);
  CLEANUP_FREE char *lockf = vk_xasprintf("%s/lock", dir);
  struct stat st;
  CHECK(!file_exists(journal), "journal removed");
  CHECK(stat(lockf, &st) == 0 && st.st_size == 0, "lock file emptied on close");
  CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0711, "domain directory mode 0711");
  CHECK(count_temps(dir) == 0, "no temporary files");

  rc = in_child(other_uuid, NULL, &err);
  CHECK(rc == VK_EXIT_PREFLIGHT && strstr(err, UUID1), "other uuid: %d %s", rc, err);
  free(err);
  rc = in_child(disk_not_in_parent, NULL, &err);
  CHECK(rc == VK_EXIT_PREFLIGHT && strstr(err, "disk vdc is not in backup"),
        "disk not in parent: %d %s", rc, err);
  free(err);
  rc = in_child(write_twice, NULL, &err);
  CHECK(rc == VK_EXIT_FAILURE && strstr(err, "file exists"), "write twice: %d %s", rc, err);
  CHECK(count_temps(dir) == 0, "no temporary files after a refused write");
  free(err);
  rc = in_child(commit_missing_disk, NULL, &err);
  CHECK(rc == VK_EXIT_NOT_FOUND && strstr(err, "disk vda: ") && strstr(err, ".vda.qcow2: No such"),
        "commit without a disk file: %d %s", rc, err);
  free(err);
  /* The schema is compiled in: a directory without one changes nothing;
   * one holding a broken manifest.rng (the development override) is used.
   */
  rc = in_child(no_schema, "/nonexistent", &err);
  CHECK(rc == 0, "no schema installed: %d %s", rc, err);
  free(err);
  CLEANUP_FREE char *xmldir = vk_xasprintf("%s/xml", tmpdir);
  CLEANUP_FREE char *rng = vk_xasprintf("%s/manifest.rng", xmldir);
  CHECK(mkdir(xmldir, 0700) == 0 && put(rng, "<grammar/>", 10) == 0, "broken schema");
  rc = in_child(no_schema, xmldir, &err);
  CHECK(rc == VK_EXIT_FAILURE && strstr(err, "cannot load the manifest schema ") &&
        strstr(err, rng), "broken schema in VCKPT_XMLDIR: %d %s", rc, err);
  r = NULL;
  CHECK(vk_repo_open(repo, "web 1", false, true, &r) == 0 && !vk_repo_pending(r) &&
        vk_repo_manifest(r)->nr_backups == 5 && count_temps(dir) == 0,
        "failed and aborted backups leave the repository as it was");
  vk_repo_close(r);
  DIR *d = opendir(dir);
  int entries = 0;
  for (struct dirent *e; d && (e = readdir(d)); )
    entries++;
  if (d)
    closedir(d);
  CHECK(entries == 6, "domain directory holds ., .., lock, manifest.xml and 2 chains: %d",
        entries);
}

/* ---- lock ---- */

/* Open with the lock and report the status (in a child). */
static int
open_locked(void *arg)
{
  struct vk_repo *r = NULL;
  if (vk_repo_open(repo, arg, true, true, &r) < 0)
    return -1;
  vk_repo_close(r);
  return 0;
}

/* Fork a process holding the lock of DOMAIN until its stdin pipe closes. */
static pid_t
lock_holder(const char *domain, int *release)
{
  int ready[2], hold[2];
  if (pipe(ready) < 0 || pipe(hold) < 0)
    abort();
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    struct vk_repo *r = NULL;
    char c = vk_repo_open(repo, domain, true, true, &r) == 0 ? 'y' : 'n';
    close(ready[0]);
    close(hold[1]);
    if (write(ready[1], &c, 1) != 1)
      _exit(1);
    while (read(hold[0], &c, 1) < 0 && errno == EINTR)
      ;
    vk_repo_close(r);
    _exit(0);
  }
  close(ready[1]);
  close(hold[0]);
  char c = 'n';
  CHECK(read(ready[0], &c, 1) == 1 && c == 'y', "lock holder started");
  close(ready[0]);
  *release = hold[1];
  return pid;
}

/* A held lock is busy and names its holder; a killed holder's is taken over. */
static void
test_lock(void)
{
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  int release;
  pid_t holder = lock_holder("locked", &release);
  CLEANUP_FREE char *err = NULL;
  CLEANUP_FREE char *want = vk_xasprintf("repository of domain 'locked' is locked by pid %ld "
                                         "on %s since ", (long)holder, host);
  int rc = in_child(open_locked, (void *)"locked", &err);
  CHECK(rc == VK_EXIT_BUSY && strstr(err, want) && strstr(err, "test-repo)"),
        "busy: %d %s", rc, err);
  /* Reading without the lock is allowed meanwhile. */
  struct vk_repo *r = NULL;
  CHECK(vk_repo_open(repo, "locked", false, false, &r) == 0, "open without lock");
  vk_repo_close(r);

  close(release);
  waitpid(holder, NULL, 0);
  free(err);
  rc = in_child(open_locked, (void *)"locked", &err);
  CHECK(rc == 0 && !strstr(err, "warning"), "after release: %d %s", rc, err);

  /* A holder killed with SIGKILL: its lock is taken over with a warning. */
  holder = lock_holder("stale", &release);
  kill(holder, SIGKILL);
  waitpid(holder, NULL, 0);
  close(release);
  free(err);
  free(want);
  want = vk_xasprintf("left by pid %ld on %s since ", (long)holder, host);
  rc = in_child(open_locked, (void *)"stale", &err);
  CHECK(rc == 0 && strstr(err, want) && strstr(err, "no longer running"),
        "stale lock: %d %s", rc, err);
  free(err);
  rc = in_child(open_locked, (void *)"stale", &err);
  CHECK(rc == 0 && !*err, "second open after a takeover is quiet: %s", err);
}

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

/* ---- names ---- */

struct name_case {
  const char *domain;
  const char *checkpoint;
  char *const *targets;
  int code;
  const char *msg;
};

static char *const bad_target[] = { (char *)"../vda", NULL };
static char *const space_target[] = { (char *)"vd a", NULL };
static char *const dup_targets[] = { (char *)"vda", (char *)"vda", NULL };
static char *const no_targets[] = { NULL };

static const struct name_case names[] = {
  { "../x", "c", vda, VK_EXIT_USAGE, "contains '/'" },
  { "a/b", "c", vda, VK_EXIT_USAGE, "contains '/'" },
  { ".", "c", vda, VK_EXIT_USAGE, "starts with '.'" },
  { "..", "c", vda, VK_EXIT_USAGE, "starts with '.'" },
  { ".hidden", "c", vda, VK_EXIT_USAGE, "starts with '.'" },
  { "", "c", vda, VK_EXIT_USAGE, "empty" },
  { "a\nb", "c", vda, VK_EXIT_USAGE, "control character" },
  { "ok", "a/b", vda, VK_EXIT_USAGE, "checkpoint name 'a/b'" },
  { "ok", "../x", vda, VK_EXIT_USAGE, "must not start with '.'" },
  { "ok", "-x", vda, VK_EXIT_USAGE, "must not start with '-'" },
  { "ok", "a b", vda, VK_EXIT_USAGE, "checkpoint name" },
  { "ok", "", vda, VK_EXIT_USAGE, "empty" },
  { "ok", "c", bad_target, VK_EXIT_USAGE, "disk name '../vda'" },
  { "ok", "c", space_target, VK_EXIT_USAGE, "disk name 'vd a'" },
  { "ok", "c", dup_targets, VK_EXIT_USAGE, "given twice" },
  { "ok", "c", no_targets, VK_EXIT_USAGE, "no disk" },
  { "caf\xc3\xa9 web", "c", vda, 0, NULL },
};

/* Begin and abort a full backup named by a name case (in a child). */
static int
begin_named(void *arg)
{
  const struct name_case *c = arg;
  struct vk_repo *r = NULL;
  struct vk_backup *b = NULL;
  if (vk_repo_open(repo, c->domain, true, true, &r) < 0)
    return -1;
  int rc = vk_repo_begin(r, VK_LEVEL_FULL, c->checkpoint, NULL, NULL, c->targets, NULL, NULL, &b);
  if (b)
    vk_repo_abort(r, b);
  vk_repo_close(r);
  return rc;
}

/* Names that would escape or confuse the layout are refused. */
static void
test_names(void)
{
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const struct name_case *c = &names[i];
    CLEANUP_FREE char *err = NULL;
    int rc = in_child(begin_named, (void *)c, &err);
    CHECK(rc == c->code && (!c->msg || strstr(err, c->msg)),
          "name case %zu ('%s', '%s'): status %d (want %d): %s",
          i, c->domain, c->checkpoint, rc, c->code, err);
  }
  CLEANUP_FREE char *a = vk_xasprintf("%s/a", repo);
  CLEANUP_FREE char *x = vk_xasprintf("%s/x", tmpdir);
  CHECK(!file_exists(a) && !file_exists(x), "nothing created for refused domain names");
}

/* ---- corrupted manifests ---- */

#define VALID_JOURNAL                                                                   \
  "<pending version=\"1\"><domain><name>x</name></domain>"                            \
  "<backup id=\"full-20261122T030000Z\" level=\"full\"><chain>20261122T030000Z</chain>" \
  "<checkpoint>c</checkpoint><start>1</start>"                                          \
  "<domainXML>20261122T030000Z/full-20261122T030000Z.domain.xml</domainXML>"            \
  "<checkpointXML>20261122T030000Z/full-20261122T030000Z.checkpoint.xml</checkpointXML>" \
  "<disks><disk target=\"vda\"><file>20261122T030000Z/full-20261122T030000Z.vda.qcow2"  \
  "</file></disk></disks></backup></pending>"

struct corrupt_case {
  const char *prefix;     /* put before the document; without FIND, the document */
  const char *find;       /* replace the first FIND with REPLACE; neither: truncate */
  const char *replace;
  const char *msg;
};

static const struct corrupt_case corrupt[] = {
  { "", NULL, NULL, "malformed XML" },
  { "", "<manifest", "", "malformed XML" },
  { "", "level=\"full\"", "level=\"fulll\"", "does not match the manifest schema" },
  { "", "<checksum type=\"xxh3-128\">", "<checksum type=\"xxh3-128\">zz",
    "does not match the manifest schema" },
  { "", "type=\"xxh3-128\"", "type=\"md5\"", "does not match the manifest schema" },
  { "", "<checksum type=\"xxh3-128\">", "<checksum>", "does not match the manifest schema" },
  { "", "version=\"2\"", "version=\"3\"", "format version 3 is not supported" },
  { "", "version=\"2\"", "version=\"1\"", "a <checksum> record in a format version 1" },
  { "", " version=\"2\"", "", "does not match the manifest schema" },
  { "", ".vda.qcow2</file>", "/../../../etc/passwd</file>", "does not match the manifest schema" },
  { "", ".vda.qcow2</file>", ".vdb.qcow2</file>", "file must be" },
  { "", "<since>c1</since>", "<since>c9</since>", "does not match its parent" },
  { "", "<parent>full-", "<parent>diff-", "is not an earlier backup" },
  { VALID_JOURNAL, NULL, NULL, "root element is <pending>" },
  { "", "<domainXML>", "<domainXML>\x01", "malformed XML" },
  { "", "<checkpoint>c1</checkpoint>", "<checkpoint>c1</checkpoint><checkpoint>c1</checkpoint>",
    "does not match the manifest schema" },
  /* A differential base: its record must be a checkpoint XML of the chain. */
  { "", "<checkpoint>c1</checkpoint>", "<checkpoint>c1</checkpoint><differentialBase "
    "checkpoint=\"c0\" identity=\"vckpt backup checkpoint, identity "
    "0123456789abcdef0123456789abcdef\" record=\"19990101T000000Z/full-19990101T000000Z"
    ".checkpoint.xml\"/>", "its differential base must belong" },
  { "", "<checkpoint>c1</checkpoint>", "<checkpoint>c1</checkpoint><differentialBase "
    "checkpoint=\"c0\" identity=\"not ours\" record=\"19990101T000000Z/x\"/>",
    "does not match the manifest schema" },
  /* An external entity is neither loaded nor accepted. */
  { "<!DOCTYPE manifest [<!ENTITY x SYSTEM \"/etc/hostname\">]>\n",
    "<name>web 1</name>", "<name>&x;</name>", "does not match the manifest schema" },
};

/* Open the domain of a corrupt case (in a child). */
static int
open_corrupt(void *arg)
{
  struct vk_repo *r = NULL;
  if (vk_repo_open(repo, arg, false, true, &r) < 0)
    return -1;
  vk_repo_close(r);
  return 0;
}

/* A damaged manifest is an error naming it, and is left untouched. */
static void
test_corrupt(void)
{
  CLEANUP_FREE char *good_path = vk_xasprintf("%s/web 1/manifest.xml", repo);
  CLEANUP_FREE char *good = slurp(good_path, NULL);
  if (!good) {
    CHECK(0, "no manifest to corrupt");
    return;
  }
  for (size_t i = 0; i < sizeof corrupt / sizeof corrupt[0]; i++) {
    const struct corrupt_case *c = &corrupt[i];
    CLEANUP_FREE char *domain = vk_xasprintf("corrupt-%zu", i);
    CLEANUP_FREE char *dir = vk_xasprintf("%s/%s", repo, domain);
    CLEANUP_FREE char *path = vk_xasprintf("%s/manifest.xml", dir);
    CLEANUP_FREE char *bad = NULL;
    if (!c->find && *c->prefix)
      bad = vk_xstrdup(c->prefix);
    else if (!c->find)
      bad = vk_xasprintf("%.*s", (int)strlen(good) / 2, good);
    else {
      const char *at = strstr(good, c->find);
      if (!at) {
        CHECK(0, "case %zu: '%s' not in the manifest", i, c->find);
        continue;
      }
      bad = vk_xasprintf("%s%.*s%s%s", c->prefix, (int)(at - good), good, c->replace,
                         at + strlen(c->find));
    }
    size_t len = strlen(bad);
    mkdir(dir, 0700);
    CHECK(put(path, bad, len) == 0, "case %zu: write", i);
    CLEANUP_FREE char *err = NULL;
    int rc = in_child(open_corrupt, domain, &err);
    CHECK(rc == VK_EXIT_FAILURE && strstr(err, path) && strstr(err, c->msg),
          "corrupt case %zu: status %d: %s", i, rc, err);
    size_t after_len = 0;
    CLEANUP_FREE char *after = slurp(path, &after_len);
    CHECK(after && after_len == len && memcmp(after, bad, len) == 0,
          "corrupt case %zu: manifest left as it was", i);
  }

  /* A corrupted journal is an error too, never rolled back blindly. */
  CLEANUP_FREE char *jdir = vk_xasprintf("%s/badjournal", repo);
  CLEANUP_FREE char *journal = vk_xasprintf("%s/pending.xml", jdir);
  mkdir(jdir, 0700);
  const char *j = "<pending version=\"1\"><domain><name>badjournal</name></domain>"
    "<backup id=\"full-20261122T030000Z\" level=\"full\"><chain>20261122T030000Z</chain>"
    "<checkpoint>c</checkpoint><start>1</start>"
    "<domainXML>20261122T030000Z/full-20261122T030000Z.domain.xml</domainXML>"
    "<checkpointXML>20261122T030000Z/full-20261122T030000Z.checkpoint.xml</checkpointXML>"
    "<disks><disk target=\"vda\"><file>20261122T030000Z/../../victim</file></disk></disks>"
    "</backup></pending>";
  CHECK(put(journal, j, strlen(j)) == 0, "write journal");
  CLEANUP_FREE char *err = NULL;
  int rc = in_child(open_corrupt, (void *)"badjournal", &err);
  CHECK(rc == VK_EXIT_FAILURE && strstr(err, "pending.xml") && strstr(err, "schema"),
        "corrupt journal: %d %s", rc, err);
  CHECK(file_exists(journal), "corrupt journal kept");
}

/* ---- commits killed at random instants ---- */

/* Make backups forever, as a cron job run again and again would. */
static int
backup_forever(void *arg)
{
  for (unsigned n = 0; ; n++) {
    struct vk_repo *r = NULL;
    if (vk_repo_open(repo, "killed", true, true, &r) < 0)
      return -1;
    if (vk_repo_pending(r) && vk_repo_recover(r) < 0)
      return -1;
    const struct vk_backup *latest = vk_repo_latest(r);
    char chk[32];
    snprintf(chk, sizeof chk, "k%ld-%u", (long)getpid(), n);
    bool full = !latest || vk_repo_manifest(r)->nr_backups % 5 == 0;
    char payload[64];
    snprintf(payload, sizeof payload, "%ld.%u.%d", (long)getpid(), n, rand());
    if (make_backup(r, full ? VK_LEVEL_FULL : VK_LEVEL_INCREMENTAL, chk,
                    full ? NULL : latest, vda_vdb, payload, NULL) < 0)
      return -1;
    vk_repo_close(r);
  }
}

/* Whether NAME (CHAIN/FILE, or CHAIN alone) belongs to a committed backup. */
static bool
in_manifest(const struct vk_manifest *m, const char *name)
{
  for (size_t i = 0; i < m->nr_backups; i++) {
    const struct vk_backup *b = &m->backups[i];
    if (same(b->chain, name) || same(b->domain_xml, name) || same(b->checkpoint_xml, name))
      return true;
    for (size_t j = 0; j < b->nr_disks; j++)
      if (same(b->disks[j].file, name))
        return true;
  }
  return false;
}

/* Count the files and directories of the repository R that no committed
 * backup names (SUB: "" for the domain directory, else a chain).
 */
static int
count_orphans(struct vk_repo *r, const char *sub)
{
  CLEANUP_FREE char *dir = vk_xasprintf("%s%s%s", vk_repo_dir(r), *sub ? "/" : "", sub);
  DIR *d = opendir(dir);
  int n = 0;
  if (!d)
    return 1;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
        (!*sub && (strcmp(e->d_name, "manifest.xml") == 0 || strcmp(e->d_name, "lock") == 0)))
      continue;
    CLEANUP_FREE char *name = vk_xasprintf("%s%s%s", sub, *sub ? "/" : "", e->d_name);
    if (!in_manifest(vk_repo_manifest(r), name)) {
      fprintf(stderr, "orphan: %s\n", name);
      n++;
    } else if (!*sub)
      n += count_orphans(r, name);
  }
  closedir(d);
  return n;
}

/* Check a repository after a kill: it opens, every committed file is there
 * with its checksum, the journal rolls back, and then no temporary file nor
 * any file that no backup uses is left.
 * Returns the number of backups, or -1.
 */
static long
check_after_kill(size_t before, int *had_journal)
{
  struct vk_repo *r = NULL;
  if (vk_repo_open(repo, "killed", true, true, &r) < 0)
    return -1;
  const struct vk_manifest *m = vk_repo_manifest(r);
  long n = m->nr_backups;
  bool ok = m->nr_backups >= before;
  for (size_t i = 0; i < m->nr_backups && ok; i++)
    for (size_t j = 0; j < m->backups[i].nr_disks; j++) {
      CLEANUP_FREE char *path = vk_repo_path(r, m->backups[i].disks[j].file);
      char hex[65];
      ok = ok && vk_sum_file(m->backups[i].disks[j].checksum_type, path, hex) == 0 &&
           same(hex, m->backups[i].disks[j].checksum);
    }
  const struct vk_backup *p = vk_repo_pending(r);
  if (p && ok) {
    (*had_journal)++;
    for (size_t i = 0; i < m->nr_backups; i++)
      ok = ok && !same(m->backups[i].id, p->id);
    CLEANUP_FREE char *path = vk_repo_path(r, p->disks[0].file);
    ok = ok && vk_repo_recover(r) == 0 && !file_exists(path);
  }
  ok = ok && count_temps(vk_repo_dir(r)) == 0 && count_orphans(r, "") == 0;
  vk_repo_close(r);
  return ok ? n : -1;
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

/* Backup runs killed at random instants always leave a usable repository. */
static void
test_killed(void)
{
  const int iterations = 200;
  const double budget = 8.0;   /* seconds */
  struct timespec t0, t1;
  int done = 0, journals = 0;
  long backups = 0;

  /* The warnings of the lock takeovers go to a log shown on failure. */
  CLEANUP_FREE char *log = vk_xasprintf("%s/killed.log", tmpdir);
  fflush(stderr);
  int saved = dup(2);
  int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  dup2(logfd, 2);
  close(logfd);
  vk_verbose = 1;   /* count the journals found already committed */

  /* Kill within twice the time one backup run takes, so kills land
   * everywhere in it, however fast the machine (or slow under valgrind).
   */
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < 3; i++) {
    struct vk_repo *r = NULL;
    CHECK(vk_repo_open(repo, "calibrate", true, true, &r) == 0 &&
          make_backup(r, i ? VK_LEVEL_INCREMENTAL : VK_LEVEL_FULL, "k", vk_repo_latest(r),
                      vda_vdb, "calibrate", NULL) == 0, "calibration backup");
    vk_repo_close(r);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  long window = ((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000) * 2 / 3;
  if (window < 1000)
    window = 1000;

  srand(seed);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (; done < iterations; done++) {
    pid_t pid = fork();
    if (pid == 0) {
      int fd = open("/dev/null", O_WRONLY);
      dup2(fd, 2);
      srand(seed + done + 1);
      backup_forever(NULL);
      _exit(1);
    }
    usleep(rand() % window);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    if (!WIFSIGNALED(status)) {
      fprintf(stderr, "FAIL: backup loop exited with %d\n", WEXITSTATUS(status));
      errors++;
      break;
    }
    long n = check_after_kill(backups, &journals);
    if (n < 0) {
      fprintf(stderr, "FAIL: repository broken after kill %d\n", done);
      errors++;
      break;
    }
    backups = n;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9 > budget) {
      done++;
      break;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  vk_verbose = 0;
  fflush(stderr);
  dup2(saved, 2);
  close(saved);

  CLEANUP_FREE char *text = slurp(log, NULL);
  int late = 0;
  for (const char *p = text; p && (p = strstr(p, "was committed; removing its journal")); p++)
    late++;
  printf("one backup run takes %.1f ms; ", window / 2000.0);
  printf("killed %d backup runs in %.1f s: %ld backups committed, %d journals rolled back, "
         "%d journals of committed backups dropped\n", done,
         t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9, backups, journals, late);
  if (errors && text)
    fprintf(stderr, "%s", text);
  CHECK(backups > 0 && journals > 0, "the kills hit both committed and uncommitted states");
}


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

static const struct {
  const char *name;
  void (*fn)(void);
} tests[] = {
  { "sha256", test_sha256 },
  { "roundtrip", test_roundtrip },
  { "lock", test_lock },
  { "recovery", test_recovery },
  { "recovery-incomplete", test_recovery_incomplete },
  { "shadow", test_shadow },
  { "journal", test_journal },
  { "names", test_names },
  { "corrupt", test_corrupt },
  { "killed", test_killed },
  { "chain", test_chain },
};

int
main(int argc, char **argv)
{
  vk_progname = "test-repo";
  /* One seed for every random choice, so a failure can be replayed:
   * VCKPT_TEST_SEED=N ./test-repo [TEST].  (The instants of the kills still
   * depend on the machine's speed.)
   */
  const char *env_seed = getenv("VCKPT_TEST_SEED");
  if (env_seed && *env_seed)
    seed = strtoul(env_seed, NULL, 0);
  else {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    seed = (unsigned)now.tv_nsec ^ (unsigned)now.tv_sec ^ (unsigned)getpid();
  }
  printf("test-repo: random seed %u (VCKPT_TEST_SEED=%u replays it)\n", seed, seed);
  fflush(stdout);
  const char *base = getenv("TMPDIR");
  tmpdir = vk_xasprintf("%s/test-repo.XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  repo = vk_xasprintf("%s/repo", tmpdir);

  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    if (argc > 1 && strcmp(argv[1], tests[i].name) != 0)
      continue;
    int before = errors;
    tests[i].fn();
    if (errors != before)
      fprintf(stderr, "FAIL: %s\n", tests[i].name);
  }
  if (!errors)
    rm_rf(tmpdir);
  else
    fprintf(stderr, "test-repo: files kept in %s; random seed %u (VCKPT_TEST_SEED=%u "
            "replays it)\n", tmpdir, seed, seed);
  free(repo);
  free(tmpdir);
  printf("%s\n", errors ? "FAIL" : "PASS");
  return errors ? 1 : 0;
}
