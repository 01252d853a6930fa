/* vckpt - verify: check every backup of a domain in the repository. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "backup.h"
#include "checksum.h"
#include "copies.h"
#include "drill.h"
#include "fileio.h"
#include "instant.h"
#include "lastrun.h"
#include "process.h"
#include "qcow2.h"
#include "repo.h"
#include "restore.h"
#include "state.h"
#include "util.h"
#include "verify.h"
#include "virt.h"
#include "xml.h"


/* Verify one disk file of backup B: a regular file of the recorded size
 * and checksum, a qcow2 image with the recorded backing file and virtual
 * size, and qemu-img check.  Anything that cannot be read is a finding.
 */
static void
verify_disk(struct vk_repo *repo, const struct vk_backup *b, const struct vk_backup_disk *d,
            bool instant_running, struct vk_report *rep)
{
  CLEANUP_FREE char *path = vk_repo_file_where(repo, d->file);
  struct stat st;
  CLEANUP_CLOSE int fd = vk_repo_open_file(repo, d->file, &st);
  if (fd < 0) {
    bool missing = errno == ENOENT;
    vk_report_add(rep, missing ? "file-missing" : "file-unreadable", VK_SEV_ERROR, d->target,
                  path, NULL, b->checkpoint,
                  vk_xasprintf("backup %s: %s", b->id, vk_open_error(errno, &st)),
                  vk_xstrdup("take a full backup to start a new chain (vckpt backup --full)"));
    return;
  }
  /* libvirt's DAC driver chowns the images a domain runs on (a drill,
   * instant recovery) to QEMU's user and does not give backing layers back:
   * vckpt does (vk_repo_give_back), and a file left so is a problem.
   */
  /* While an instant domain runs from the repository, libvirt has given
   * its backing chain to QEMU's user: expected, said, not a problem.
   */
  if ((st.st_uid != geteuid() || (st.st_mode & 07777) != 0600) && instant_running)
    vk_report_add(rep, "file-owner", VK_SEV_INFO, d->target, path, NULL, b->checkpoint,
                  vk_xasprintf("backup %s: owner uid %u, mode %04o: an instant domain runs "
                               "from this repository (restore --instant), and libvirt gave "
                               "the files under it to QEMU's user", b->id,
                               (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777)),
                  vk_xstrdup("restore --finish moves the domain off the backup; the next "
                             "backup or prune then gives the files back"));
  else if (st.st_uid != geteuid() || (st.st_mode & 07777) != 0600)
    vk_report_add(rep, "file-owner", VK_SEV_ERROR, d->target, path, NULL, b->checkpoint,
                  vk_xasprintf("backup %s: owner uid %u, mode %04o, not uid %u and 0600: "
                               "another user (QEMU's, if a domain ran on it) can change it",
                               b->id, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
                               (unsigned)geteuid()),
                  vk_xstrdup("once no domain runs on this backup (restore --finish), the next "
                             "backup or prune gives it back; or chown root: and chmod 0600 it"));
  char hex[VK_SUM_HEX_MAX];
  int e = vk_sum_fd_quiet(d->checksum_type, fd, hex, NULL);
  if (e == EINTR)
    return;
  if (e) {
    vk_report_add(rep, "file-unreadable", VK_SEV_ERROR, d->target, path, NULL, b->checkpoint,
                  vk_xasprintf("backup %s: read: %s", b->id, strerror(e)),
                  vk_xstrdup("take a full backup to start a new chain"));
    return;
  }
  /* One finding for changed contents, whatever shows it. */
  bool size_ok = !d->file_size || (uint64_t)st.st_size == d->file_size;
  if (!d->checksum || strcmp(hex, d->checksum) != 0 || !size_ok) {
    CLEANUP_FREE char *sz = size_ok ? vk_xstrdup("") :
      vk_xasprintf("size %llu bytes, recorded %llu; ", (unsigned long long)st.st_size,
                   (unsigned long long)d->file_size);
    vk_report_add(rep, "checksum-mismatch", VK_SEV_ERROR, d->target, path, NULL, b->checkpoint,
                  vk_xasprintf("backup %s: %s%s mismatch: %s, recorded %s: the file changed "
                               "since the backup", b->id, sz, vk_sum_name(d->checksum_type),
                               hex, d->checksum ? d->checksum : "none"),
                  vk_xstrdup("take a full backup to start a new chain; keep the damaged file "
                             "for inspection"));
  }
  struct vk_source src = { .opaque = &fd, .size = st.st_size, .pread = vk_fd_pread };
  struct vk_image img;
  char *err = NULL;
  if (vk_image_parse(&src, path, "qcow2", &img, &err) < 0) {
    /* The reader's message starts with the path, which the finding shows. */
    size_t len = strlen(path);
    const char *msg = err && strncmp(err, path, len) == 0 && strncmp(err + len, ": ", 2) == 0
                      ? err + len + 2 : err;
    vk_report_add(rep, "image-unreadable", VK_SEV_ERROR, d->target, path, NULL, b->checkpoint,
                  vk_xasprintf("backup %s: %s", b->id, msg ? msg : "out of memory"),
                  vk_xstrdup("take a full backup to start a new chain"));
    free(err);
    return;
  }
  const char *want = d->backing ? (strrchr(d->backing, '/') ? strrchr(d->backing, '/') + 1
                                                            : d->backing) : NULL;
  if ((want == NULL) != (img.backing_file == NULL) ||
      (want && strcmp(want, img.backing_file) != 0)) {
    CLEANUP_FREE char *have = img.backing_file ? vk_printable(img.backing_file) : NULL;
    vk_report_add(rep, "chain-broken", VK_SEV_ERROR, d->target, path, NULL, b->checkpoint,
                  vk_xasprintf("backup %s: backing file is '%s', the manifest says '%s'", b->id,
                               have ? have : "none", want ? want : "none"),
                  vk_xstrdup("take a full backup to start a new chain"));
  }
  if (d->virtual_size && img.virtual_size != d->virtual_size)
    vk_report_add(rep, "size-mismatch", VK_SEV_ERROR, d->target, path, NULL, b->checkpoint,
                  vk_xasprintf("backup %s: virtual size %llu, recorded %llu", b->id,
                               (unsigned long long)img.virtual_size,
                               (unsigned long long)d->virtual_size),
                  vk_xstrdup("take a full backup to start a new chain"));
  vk_image_clear(&img);
  /* This file alone: its backing file has its own entry, and one that is
   * not a regular file must never be opened by qemu-img.
   */
  json_object *spec = json_object_new_object();
  json_object *file = json_object_new_object();
  json_object_object_add(file, "driver", json_object_new_string("file"));
  json_object_object_add(file, "filename", json_object_new_string(path));
  json_object_object_add(spec, "driver", json_object_new_string("qcow2"));
  json_object_object_add(spec, "file", file);
  json_object_object_add(spec, "backing", NULL);
  CLEANUP_FREE char *image = vk_xasprintf("json:%s",
    json_object_to_json_string_ext(spec, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(spec);
  char *argv[] = { (char *)QEMU_IMG, "check", "-q", "-U", image, NULL };
  if (vk_run(argv) < 0) {
    /* vk_run reported qemu-img's message; make it a finding as well. */
    vk_report_add(rep, "qemu-img-check", VK_SEV_ERROR, d->target, path, NULL, b->checkpoint,
                  vk_xasprintf("backup %s: qemu-img check found errors", b->id),
                  vk_xstrdup("take a full backup to start a new chain"));
  }
}

/* Report what the manifest does not know in the domain directory: chains
 * (an error when there is no manifest at all: backups without a record)
 * and files.
 */
static void
verify_unknown(struct vk_repo *repo, struct vk_report *rep)
{
  const struct vk_manifest *m = vk_repo_manifest(repo);
  const char *dir = vk_repo_where(repo);
  bool manifest = vk_repo_has_manifest(repo);
  DIR *d = vk_repo_list(repo, NULL);
  if (!d) {
    vk_report_add(rep, "file-unreadable", VK_SEV_ERROR, NULL, dir, NULL, NULL,
                  vk_xasprintf("cannot list the directory: %s", strerror(errno)),
                  vk_xstrdup("check the repository's permissions"));
    return;
  }
  size_t orphans = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    const char *n = e->d_name;
    if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || strcmp(n, "lock") == 0 ||
        strcmp(n, "manifest.xml") == 0 || strcmp(n, "pending.xml") == 0 ||
        strcmp(n, VK_DRILLS_FILE) == 0 || strcmp(n, VK_INSTANT_FILE) == 0 ||
        strcmp(n, VK_LASTRUN_FILE) == 0 || strcmp(n, VK_COPIES_FILE) == 0)
      continue;
    struct stat st;
    CLEANUP_FREE char *path = vk_repo_file_where(repo, n);
    if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) {
      vk_report_add(rep, "file-unknown", VK_SEV_WARNING, NULL, path, NULL, NULL,
                    vk_xstrdup("the manifest does not know this file"),
                    vk_xstrdup("inspect it; vckpt never reads it"));
      continue;
    }
    if (!vk_manifest_has_chain(m, n)) {
      if (!manifest)
        orphans++;
      vk_report_add(rep, "chain-unknown", manifest ? VK_SEV_WARNING : VK_SEV_ERROR, NULL, path,
                    NULL, NULL,
                    vk_xstrdup(manifest ? "the manifest does not know this chain directory"
                                        : "a chain directory, but the repository has no "
                                          "manifest.xml: its backups are not recorded"),
                    vk_xstrdup("inspect it; a restore cannot use backups the manifest does "
                               "not record"));
      continue;
    }
    DIR *c = vk_repo_list(repo, n);
    if (!c) {
      vk_report_add(rep, "file-unreadable", VK_SEV_ERROR, NULL, path, NULL, NULL,
                    vk_xasprintf("cannot list the chain directory: %s", strerror(errno)),
                    vk_xstrdup("check the repository's permissions"));
      continue;
    }
    struct dirent *f;
    while ((f = readdir(c)) != NULL) {
      if (strcmp(f->d_name, ".") == 0 || strcmp(f->d_name, "..") == 0)
        continue;
      CLEANUP_FREE char *rel = vk_xasprintf("%s/%s", n, f->d_name);
      if (!vk_manifest_has_file(m, rel)) {
        CLEANUP_FREE char *fp = vk_repo_file_where(repo, rel);
        vk_report_add(rep, "file-unknown", VK_SEV_WARNING, NULL, fp, NULL, NULL,
                      vk_xstrdup("the manifest does not know this file"),
                      vk_xstrdup("inspect it; vckpt never reads it"));
      }
    }
    closedir(c);
  }
  closedir(d);
  if (!manifest && orphans)
    vk_report_add(rep, "manifest-missing", VK_SEV_ERROR, NULL, dir, NULL, NULL,
                  vk_xasprintf("manifest.xml is missing next to %zu chain director%s", orphans,
                               orphans == 1 ? "y" : "ies"),
                  vk_xstrdup("restore manifest.xml from a copy; without it no backup here "
                             "can be verified or restored"));
}

/* Report each backup whose recorded time cannot be right (in the future,
 * or out of the manifest's order): a wrong clock, which prune works
 * around but a person should fix.
 */
static void
verify_times(const struct vk_manifest *m, struct vk_report *rep)
{
  long long now = time(NULL);
  size_t wrong = 0;
  CLEANUP_FREE struct vk_time_check *tc = vk_manifest_check_times(m, now, &wrong);
  for (size_t i = 0; wrong && i < m->nr_backups; i++)
    if (tc[i].fault != VK_TIME_OK)
      vk_report_add(rep, "backup-time-wrong", VK_SEV_WARNING, NULL, NULL, NULL,
                    m->backups[i].checkpoint, vk_manifest_time_fault(m, i, &tc[i], now),
                    vk_xstrdup(VK_TIME_FAULT_FIX));
}

int
vk_verify(const char *repo_dir, const char *domain, struct vk_report *rep,
          size_t *backups, size_t *files)
{
  struct vk_repo *repo = NULL;
  memset(rep, 0, sizeof *rep);
  rep->domain = vk_xstrdup(domain);
  *backups = *files = 0;
  /* A stop signal ends the check after the file being read. */
  vk_stop_catch_begin();
  if (vk_repo_open_shared(repo_dir, domain, &repo) < 0) {
    vk_stop_catch_end();
    return -1;
  }
  const struct vk_manifest *m = vk_repo_manifest(repo);
  CLEANUP_STRV char **instant = NULL;
  (void)vk_instant_live_backups(repo, &instant);   /* unreadable: reported, owners judged strictly */
  verify_unknown(repo, rep);
  verify_times(m, rep);
  for (size_t i = 0; i < m->nr_backups && !vk_stop_signal; i++) {
    const struct vk_backup *b = &m->backups[i];
    (*backups)++;
    for (size_t j = 0; j < b->nr_disks && !vk_stop_signal; j++, (*files)++)
      verify_disk(repo, b, &b->disks[j], instant && instant[0], rep);
    vk_state_verify(repo, b, rep, files);
    const char *meta[] = { b->domain_xml, b->checkpoint_xml, b->base.record };
    for (size_t k = 0; k < 3; k++) {
      if (!meta[k])
        continue;
      CLEANUP_FREE char *p = vk_repo_file_where(repo, meta[k]);
      struct stat st;
      int fd = vk_repo_open_file(repo, meta[k], &st);
      if (fd >= 0 && st.st_size > 0) {
        close(fd);
        continue;
      }
      int err = fd >= 0 ? 0 : errno;
      if (fd >= 0)
        close(fd);
      vk_report_add(rep, err == ENOENT ? "file-missing" : "file-unreadable", VK_SEV_ERROR,
                    NULL, p, NULL, b->checkpoint,
                    vk_xasprintf("backup %s: %s", b->id, err ? vk_open_error(err, &st) : "empty"),
                    vk_xstrdup(k == 2 ? "the checkpoint of this chain's differential backups "
                                        "cannot be redefined (vckpt repair)"
                               : k ? "the checkpoint cannot be redefined from this backup"
                                   : "a restore cannot --define a domain from this backup"));
    }
  }
  vk_repo_close(repo);
  vk_stop_catch_end();
  if (vk_stop_signal) {
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d", (int)vk_stop_signal);
    return -1;
  }
  return 0;
}
