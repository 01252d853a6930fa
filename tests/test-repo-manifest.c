/* Unit test of the backup repository (lib/repo.c), its manifest: the
 * checksums' known answers, backups that round-trip through the manifest,
 * name checks, corrupted manifests.  Cases that must fail run in a child
 * so each one's exit status and message can be checked.
 */
#include <config.h>

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "repo.h"
#include "util.h"
#include "repo-test.h"

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
  /* A file that is not a qcow2 image records no guest data (a backup does
   * not depend on it).
   */
  CHECK(!full->disks[0].has_guest_bytes && full->disks[0].guest_bytes == 0, "guest bytes");

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

static const struct repo_test tests[] = {
  { "sha256", test_sha256 },
  { "roundtrip", test_roundtrip },
  { "names", test_names },
  { "corrupt", test_corrupt },
};

/* The cases above, or the one named by argv[1]. */
int
main(int argc, char **argv)
{
  return repo_test_main("test-repo-manifest", tests, sizeof tests / sizeof tests[0], argc, argv);
}
