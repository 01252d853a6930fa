/* vckpt - host state a backup keeps besides the disks (state.h). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


#include "checksum.h"
#include "fileio.h"
#include "state.h"
#include "testhook.h"
#include "util.h"
#include "virt.h"
#include "xml.h"

/* The largest state file read (OVMF's variables are 128 KiB to 4 MiB, a
 * TPM's permanent state a few KiB).
 */
#define STATE_MAX (64u << 20)
/* How often a file that changed while it was read is read again. */
#define STATE_TRIES 5

const char *
vk_state_swtpm_dir(void)
{
  const char *d = getenv("VCKPT_SWTPM_DIR");
  return d && *d == '/' ? d : "/var/lib/libvirt/swtpm";
}

/* Read the regular file open as FD (status *ST) whole into *BUF, *LEN
 * bytes, and close FD.  0, or an errno (not reported; EFBIG: larger than
 * STATE_MAX).
 */
static int
read_fd(int fd, char **buf, size_t *len, const struct stat *st)
{
  if ((uint64_t)st->st_size > STATE_MAX) {
    close(fd);
    return EFBIG;
  }
  size_t cap = (size_t)st->st_size + 1, n = 0;
  char *b = vk_xmalloc(cap);
  for (;;) {
    if (n == cap) {
      if (cap > STATE_MAX) {
        free(b);
        close(fd);
        return EFBIG;
      }
      cap *= 2;
      b = vk_xrealloc(b, cap);
    }
    ssize_t r = read(fd, b + n, cap - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      int e = errno;
      free(b);
      close(fd);
      return e;
    }
    if (r == 0)
      break;
    n += r;
  }
  close(fd);
  *buf = b;
  *len = n;
  return 0;
}

/* Read the regular file RELATIVE (to DIRFD) whole into *BUF, *LEN bytes;
 * *ST its status before the read.  0, or an errno (not reported; EFBIG:
 * larger than STATE_MAX).
 */
static int
read_once(int dirfd, const char *relative, char **buf, size_t *len, struct stat *st)
{
  int fd = vk_open_regular_quiet(dirfd, relative, VK_READ_NOFOLLOW, st);
  return fd < 0 ? errno : read_fd(fd, buf, len, st);
}

static bool
same_stat(const struct stat *a, const struct stat *b)
{
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
         a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
         a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Read PATH while consistent: two reads in a row give the same bytes and
 * the file's status (size, times, inode) did not change from before the
 * first to after the second; else up to STATE_TRIES times.  WHAT names the
 * file in messages.  0, or -1 (reported).
 */
static int
read_consistent(const char *path, const char *what, char **buf, size_t *len)
{
  for (int t = 0; t < STATE_TRIES; t++) {
    CLEANUP_FREE char *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;
    struct stat s1 = { 0 }, s2 = { 0 }, s3;
    int e = read_once(AT_FDCWD, path, &a, &la, &s1);
    struct stat *es = &s1;
    vk_test_hook("state-read");    /* tests change the file here */
    if (!e) {
      e = read_once(AT_FDCWD, path, &b, &lb, &s2);
      es = &s2;
    }
    if (e) {
      CLEANUP_FREE char *p = vk_printable(path);
      vk_error(e == ENOENT ? VK_EXIT_NOT_FOUND : VK_EXIT_FAILURE, "%s %s: %s", what, p,
               e == EFBIG ? "larger than 64 MiB" : vk_open_error(e, es));
      return -1;
    }
    if (stat(path, &s3) == 0 && same_stat(&s1, &s2) && same_stat(&s2, &s3) &&
        la == lb && (uint64_t)la == (uint64_t)s1.st_size && memcmp(a, b, la) == 0) {
      *buf = a;
      *len = la;
      a = NULL;
      return 0;
    }
    vk_debug("%s %s changed while it was read (try %d)", what, path, t + 1);
  }
  CLEANUP_FREE char *p = vk_printable(path);
  vk_error(VK_EXIT_FAILURE, "%s %s changed each of the %d times it was read: the guest keeps "
           "writing it; nothing consistent could be copied", what, p, STATE_TRIES);
  return -1;
}

/* Copy the file at PATH (WHAT in messages) into the backup as SF (name
 * RELATIVE in the domain directory of REPO).
 */
static int
store_one(struct vk_repo *repo, const char *path, const char *what, char *relative,
          struct vk_state_file *sf)
{
  CLEANUP_FREE char *buf = NULL;
  size_t len = 0;
  char hex[VK_SUM_HEX_MAX];
  CLEANUP_FREE char *dst = vk_repo_file_where(repo, relative);
  if (read_consistent(path, what, &buf, &len) < 0 ||
      vk_sum_buf(VK_SUM_DEFAULT, buf, len, hex) < 0 ||
      vk_repo_create_file(repo, relative, buf, len) < 0) {
    free(relative);
    return -1;
  }
  sf->file = relative;
  sf->size = len;
  sf->checksum = vk_xstrdup(hex);
  sf->checksum_type = VK_SUM_DEFAULT;
  vk_debug("%s %s: %zu bytes kept as %s", what, path, len, dst);
  return 0;
}

int
vk_state_store(struct vk_repo *repo, struct vk_backup *b, virDomainPtr dom,
               const char *domain_xml, const char *remote_host)
{
  CLEANUP_XMLDOC xmlDocPtr doc = vk_xml_parse(domain_xml, "the domain XML");
  if (!doc)
    return -1;
  CLEANUP_XPATHCTX xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  CLEANUP_FREE char *nvram = vk_xpath_string(ctx, NULL, "/domain/os/nvram");
  CLEANUP_XPATHOBJ xmlXPathObjectPtr nvnodes = vk_xpath_nodes(ctx, NULL, "/domain/os/nvram");
  if (remote_host) {
    CLEANUP_XPATHOBJ xmlXPathObjectPtr tpm2 =
      vk_xpath_nodes(ctx, NULL, "/domain/devices/tpm/backend[@type='emulator']");
    if (vk_xpath_count(nvnodes) > 0 || vk_xpath_count(tpm2) > 0)
      vk_warn("the domain's UEFI variables and TPM state are files on host '%s': they are not "
              "kept (back them up there, or run vckpt on that host)", remote_host);
    return 0;
  }
  if (nvram && *nvram) {
    if (nvram[0] != '/') {
      CLEANUP_FREE char *p = vk_printable(nvram);
      vk_error(VK_EXIT_FAILURE, "the domain's <nvram> '%s' is not an absolute path", p);
      return -1;
    }
    if (store_one(repo, nvram, "NVRAM file", vk_backup_state_name(b->chain, b->id, false),
                  &b->nvram) < 0)
      return -1;
  } else if (vk_xpath_count(nvnodes) > 0)
    vk_warn("the domain's <nvram> names no local file: it is not kept");
  CLEANUP_XPATHOBJ xmlXPathObjectPtr tpm =
    vk_xpath_nodes(ctx, NULL, "/domain/devices/tpm/backend[@type='emulator']");
  if (vk_xpath_count(tpm) > 0) {
    CLEANUP_FREE char *version = vk_xpath_string(ctx, tpm->nodesetval->nodeTab[0], "@version");
    if (version && strcmp(version, "2.0") != 0) {
      vk_warn("the domain's TPM is version %s: only TPM 2.0 state is kept, this one is not",
              version);
      return 0;
    }
    char uuid[VIR_UUID_STRING_BUFLEN];
    if (virDomainGetUUIDString(dom, uuid) < 0) {
      vk_virt_error("cannot read the domain's UUID");
      return -1;
    }
    CLEANUP_FREE char *path = vk_xasprintf("%s/%s/tpm2/tpm2-00.permall", vk_state_swtpm_dir(),
                                           uuid);
    struct stat st;
    if (lstat(path, &st) < 0 && errno == ENOENT) {
      /* libvirt makes the state when the domain first starts. */
      vk_warn("the domain's TPM has no state yet (%s is missing): none is kept", path);
      return 0;
    }
    if (store_one(repo, path, "TPM state", vk_backup_state_name(b->chain, b->id, true),
                  &b->tpm) < 0)
      return -1;
  }
  return 0;
}

void
vk_state_verify(struct vk_repo *repo, const struct vk_backup *b, struct vk_report *rep,
                size_t *files)
{
  for (int tpm = 0; tpm < 2; tpm++) {
    const struct vk_state_file *sf = tpm ? &b->tpm : &b->nvram;
    const char *what = tpm ? "TPM state" : "NVRAM";
    if (!sf->file)
      continue;
    (*files)++;
    CLEANUP_FREE char *path = vk_repo_file_where(repo, sf->file);
    const char *action = tpm ? "a restore --define cannot give the new domain this TPM state; "
                               "take a new backup"
                             : "a restore --define cannot give the new domain these UEFI "
                               "variables; take a new backup";
    struct stat st;
    CLEANUP_CLOSE int fd = vk_repo_open_file(repo, sf->file, &st);
    if (fd < 0) {
      vk_report_add(rep, errno == ENOENT ? "file-missing" : "file-unreadable", VK_SEV_ERROR,
                    NULL, path, NULL, b->checkpoint,
                    vk_xasprintf("backup %s: %s copy: %s", b->id, what,
                                 vk_open_error(errno, &st)), vk_xstrdup(action));
      continue;
    }
    char hex[VK_SUM_HEX_MAX];
    int e = vk_sum_fd_quiet(sf->checksum_type, fd, hex, NULL);
    if (e == EINTR)
      return;
    if (e) {
      vk_report_add(rep, "file-unreadable", VK_SEV_ERROR, NULL, path, NULL, b->checkpoint,
                    vk_xasprintf("backup %s: %s copy: read: %s", b->id, what, strerror(e)),
                    vk_xstrdup(action));
      continue;
    }
    if ((uint64_t)st.st_size != sf->size || !sf->checksum || strcmp(hex, sf->checksum) != 0)
      vk_report_add(rep, "checksum-mismatch", VK_SEV_ERROR, NULL, path, NULL, b->checkpoint,
                    vk_xasprintf("backup %s: %s copy: %s mismatch: size %llu bytes, %s; "
                                 "recorded %llu, %s: the file changed since the backup",
                                 b->id, what, vk_sum_name(sf->checksum_type),
                                 (unsigned long long)st.st_size, hex,
                                 (unsigned long long)sf->size,
                                 sf->checksum ? sf->checksum : "none"),
                    vk_xstrdup(action));
  }
}

/* Read the copy SF of backup B in REPO, checked against the manifest when
 * VERIFY.  0 with *BUF, or -1 (reported).
 */
static int
read_copy(struct vk_repo *repo, const struct vk_backup *b, const struct vk_state_file *sf,
          const char *what, bool verify, char **buf, size_t *len)
{
  CLEANUP_FREE char *path = vk_repo_file_where(repo, sf->file);
  struct stat st;
  int fd = vk_repo_open_file(repo, sf->file, &st);
  int e = fd < 0 ? errno : read_fd(fd, buf, len, &st);
  if (e) {
    vk_error(e == ENOENT ? VK_EXIT_NOT_FOUND : VK_EXIT_FAILURE, "%s: %s copy of backup %s: %s",
             path, what, b->id, e == EFBIG ? "larger than 64 MiB" : vk_open_error(e, &st));
    return -1;
  }
  char hex[VK_SUM_HEX_MAX];
  if (verify && (vk_sum_buf(sf->checksum_type, *buf, *len, hex) < 0 || *len != sf->size ||
                 !sf->checksum || strcmp(hex, sf->checksum) != 0)) {
    if (!vk_error_reported())
      vk_error(VK_EXIT_FAILURE, "%s: %s copy: %s mismatch: size %zu, %s; the manifest says "
               "%llu, %s: the file changed since the backup; backup %s was not restored "
               "(--no-verify restores it anyway)", path, what, vk_sum_name(sf->checksum_type),
               *len, hex, (unsigned long long)sf->size, sf->checksum ? sf->checksum : "none",
               b->id);
    free(*buf);
    *buf = NULL;
    return -1;
  }
  return 0;
}

/* The name of the NVRAM file restore wrote, for vk_state_restore_undo. */
static char *nvram_made;

int
vk_state_restore_nvram(struct vk_repo *repo, const struct vk_backup *b, xmlDocPtr doc,
                       int tofd, const char *absdir, const char *name, bool verify)
{
  CLEANUP_XPATHCTX xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  CLEANUP_XPATHOBJ xmlXPathObjectPtr nv = vk_xpath_nodes(ctx, NULL, "/domain/os/nvram");
  if (vk_xpath_count(nv) == 0)
    return 0;
  xmlNodePtr node = nv->nodesetval->nodeTab[0];
  if (!b->nvram.file) {
    /* A backup made before vckpt kept the variables (or of a <nvram>
     * that names no local file): the original's file is never shared.
     */
    nv->nodesetval->nodeTab[0] = NULL;
    vk_warn("domain '%s': <nvram> of the original domain is left out of the new one (backup "
            "%s has no copy of it)", name, b->id);
    xmlUnlinkNode(node);
    xmlFreeNode(node);
    return 0;
  }
  CLEANUP_FREE char *buf = NULL;
  size_t len = 0;
  if (read_copy(repo, b, &b->nvram, "NVRAM", verify, &buf, &len) < 0)
    return -1;
  CLEANUP_FREE char *rel = vk_xasprintf("%s_VARS.fd", name);
  CLEANUP_FREE char *path = vk_xasprintf("%s/%s", absdir, rel);
  if (vk_write_new(tofd, rel, path, buf, len) < 0)
    return -1;
  if (fsync(tofd) < 0)
    vk_warn("%s: fsync: %s", absdir, strerror(errno));
  free(nvram_made);
  nvram_made = vk_xstrdup(rel);
  xmlNodeSetContent(node, NULL);
  xmlNodeAddContent(node, (const xmlChar *)path);
  vk_debug("domain '%s': NVRAM restored as %s", name, path);
  return 0;
}

void
vk_state_restore_undo(int tofd)
{
  if (nvram_made)
    unlinkat(tofd, nvram_made, 0);
  free(nvram_made);
  nvram_made = NULL;
}

/* Make directory NAME in DIRFD (mode 0700) unless it is there. */
static int
make_dir(int dirfd, const char *name, const char *path)
{
  if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST) {
    vk_error(VK_EXIT_FAILURE, "cannot create %s: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

/* Write BUF as DIR/UUID/tpm2/tpm2-00.permall; the UUID directory must be new. */
static int
write_tpm(const char *uuid, const char *buf, size_t len)
{
  const char *dir = vk_state_swtpm_dir();
  CLEANUP_FREE char *udir = vk_xasprintf("%s/%s", dir, uuid);
  CLEANUP_FREE char *tdir = vk_xasprintf("%s/tpm2", udir);
  CLEANUP_FREE char *file = vk_xasprintf("%s/tpm2-00.permall", tdir);
  if (mkdir(dir, 0711) < 0 && errno != EEXIST) {
    vk_error(VK_EXIT_FAILURE, "cannot create %s: %s", dir, strerror(errno));
    return -1;
  }
  CLEANUP_CLOSE int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", dir, strerror(errno));
    return -1;
  }
  /* A new UUID: a directory already there is someone else's state.  Mode
   * 0711 as libvirt makes it: swtpm runs as its own user (qemu.conf's
   * swtpm_user), to which libvirt gives tpm2/ and its files at start.
   */
  if (mkdirat(dfd, uuid, 0711) < 0) {
    vk_error(VK_EXIT_FAILURE, "cannot create %s: %s", udir, strerror(errno));
    return -1;
  }
  CLEANUP_CLOSE int ufd = openat(dfd, uuid, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (ufd < 0 || fchmod(ufd, 0711) < 0 || make_dir(ufd, "tpm2", tdir) < 0) {
    if (!vk_error_reported())
      vk_error(VK_EXIT_FAILURE, "%s: %s", udir, strerror(errno));
    return -1;
  }
  CLEANUP_CLOSE int tfd = openat(ufd, "tpm2", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (tfd < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s", tdir, strerror(errno));
    return -1;
  }
  if (vk_write_new(tfd, "tpm2-00.permall", file, buf, len) < 0)
    return -1;
  if (fsync(tfd) < 0 || fsync(ufd) < 0 || fsync(dfd) < 0)
    vk_warn("%s: fsync: %s", udir, strerror(errno));
  return 0;
}

int
vk_state_restore_tpm(virConnectPtr conn, struct vk_repo *repo, const struct vk_backup *b,
                     const char *name, bool verify)
{
  if (!b->tpm.file)
    return 0;
  CLEANUP_FREE char *buf = NULL;
  size_t len = 0;
  char uuid[VIR_UUID_STRING_BUFLEN];
  virDomainPtr dom = virDomainLookupByName(conn, name);
  if (!dom) {
    vk_virt_error("cannot find the new domain '%s'", name);
    return -1;
  }
  if (virDomainGetUUIDString(dom, uuid) < 0)
    vk_virt_error("cannot read the UUID of the new domain '%s'", name);
  else if (read_copy(repo, b, &b->tpm, "TPM state", verify, &buf, &len) == 0 &&
           write_tpm(uuid, buf, len) == 0) {
    virDomainFree(dom);
    vk_debug("domain '%s': TPM state restored into %s/%s", name, vk_state_swtpm_dir(), uuid);
    return 0;
  }
  /* Never leave a new domain that would start with a fresh TPM. */
  if (virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_KEEP_NVRAM) < 0)
    vk_warn("the new domain '%s' could not be undefined again: %s", name,
            vk_virt_last_message());
  else
    vk_warn("the new domain '%s' was undefined again", name);
  virDomainFree(dom);
  return -1;
}
