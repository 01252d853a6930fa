/* vckpt - restore and verify. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "access.h"
#include "backup.h"
#include "checksum.h"
#include "fileio.h"
#include "flatten.h"
#include "process.h"
#include "qcow2.h"
#include "repo.h"
#include "restore.h"
#include "state.h"
#include "util.h"
#include "virt.h"
#include "xml.h"


void
vk_restored_free(struct vk_restored *r, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    free(r[i].target);
    free(r[i].path);
  }
  free(r);
}

/* Before anything is copied for --define NAME: the name is free and the
 * backed-up domain XML is a regular file that parses.  Returns its
 * document, or NULL (reported).
 */
static xmlDocPtr
prepare_define(virConnectPtr conn, struct vk_repo *repo, const struct vk_backup *b,
               const char *name)
{
  virDomainPtr clash = virDomainLookupByName(conn, name);
  if (clash) {
    virDomainFree(clash);
    vk_error(VK_EXIT_FAILURE, "a domain named '%s' already exists: nothing was restored", name);
    return NULL;
  }
  return vk_backup_domain_doc(repo, b);
}

xmlDocPtr
vk_backup_domain_doc(const struct vk_repo *repo, const struct vk_backup *b)
{
  CLEANUP_FREE char *path = vk_repo_file_where(repo, b->domain_xml);
  CLEANUP_FREE char *xml = NULL;
  if (vk_repo_read_file(repo, b->domain_xml, 64 << 20, VK_READ_NONEMPTY, &xml) < 0)
    return NULL;
  return vk_xml_parse(xml, path);
}

/* Remove every node of XPath EXPR (relative to the document). */
static void
drop_nodes(xmlXPathContextPtr ctx, const char *expr)
{
  CLEANUP_XPATHOBJ xmlXPathObjectPtr drop = vk_xpath_nodes(ctx, NULL, expr);
  for (int i = 0; i < vk_xpath_count(drop); i++) {
    xmlNodePtr node = drop->nodesetval->nodeTab[i];
    drop->nodesetval->nodeTab[i] = NULL;
    xmlUnlinkNode(node);
    xmlFreeNode(node);
  }
}

char *
vk_domain_rewrite(xmlDocPtr doc, const char *path, const struct vk_domain_rewrite *rw)
{
  const char *name = rw->name;
  const struct vk_restored *r = rw->disks;
  size_t n = rw->n;
  CLEANUP_XPATHCTX xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  if (rw->isolated) {
    /* A drill touches nothing outside: no network at all, no display,
     * and its serial console goes to a file of its own (below).
     */
    drop_nodes(ctx, "/domain/devices/interface | /domain/devices/graphics"
                    " | /domain/devices/audio | /domain/devices/redirdev"
                    " | /domain/devices/hostdev | /domain/devices/smartcard");
  }
  if (rw->console)
    drop_nodes(ctx, "/domain/devices/serial | /domain/devices/console");
  /* Nothing of the original's host state may be shared: pass-through
   * LUNs and shared directories are left out, and the UEFI variables
   * too unless they are the backup's restored copy (restore --define:
   * vk_state_restore_nvram) -- a drill or an instant domain never writes
   * into the original's variables file.
   */
  if (!rw->own_nvram) {
    CLEANUP_XPATHOBJ xmlXPathObjectPtr nv = vk_xpath_nodes(ctx, NULL, "/domain/os/nvram");
    if (vk_xpath_count(nv) > 0 && !rw->quiet)
      vk_warn("domain '%s': <nvram> of the original domain is left out of the new one", name);
    drop_nodes(ctx, "/domain/os/nvram");
  }
  CLEANUP_XPATHOBJ xmlXPathObjectPtr shared =
    vk_xpath_nodes(ctx, NULL, "/domain/devices/disk[@device='lun'] | /domain/devices/filesystem");
  for (int i = 0; i < vk_xpath_count(shared); i++) {
    xmlNodePtr node = shared->nodesetval->nodeTab[i];
    shared->nodesetval->nodeTab[i] = NULL;
    if (!rw->quiet)
      vk_warn("domain '%s': <%s%s> of the original domain is left out of the new one",
              name, (const char *)node->name,
              xmlStrcmp(node->name, (const xmlChar *)"disk") == 0 ? " device='lun'" : "");
    xmlUnlinkNode(node);
    xmlFreeNode(node);
  }
  /* Character devices that write to or listen on a host path (a console
   * log file, a unix socket, a pipe, a host tty) would be shared with the
   * original: the new domain gets a pty instead, and a guest agent
   * channel a socket libvirt names for it.  Their <log> files go too.
   */
  CLEANUP_XPATHOBJ xmlXPathObjectPtr chr =
    vk_xpath_nodes(ctx, NULL, "/domain/devices/*[self::serial or self::console or "
                              "self::parallel or self::channel]"
                              "[@type='file' or @type='unix' or @type='pipe' or @type='dev']");
  for (int i = 0; i < vk_xpath_count(chr); i++) {
    xmlNodePtr node = chr->nodesetval->nodeTab[i];
    CLEANUP_FREE char *type = vk_xpath_string(ctx, node, "@type");
    CLEANUP_FREE char *src = vk_xpath_string(ctx, node, "source/@path");
    CLEANUP_FREE char *tname = vk_xpath_string(ctx, node, "target/@name");
    bool agent = strcmp((const char *)node->name, "channel") == 0 && type &&
                 strcmp(type, "unix") == 0 && tname &&
                 strcmp(tname, "org.qemu.guest_agent.0") == 0;
    for (xmlNodePtr c = node->children, next; c; c = next) {
      next = c->next;
      if (c->type != XML_ELEMENT_NODE)
        continue;
      if (xmlStrcmp(c->name, (const xmlChar *)"log") == 0 ||
          (!agent && xmlStrcmp(c->name, (const xmlChar *)"source") == 0)) {
        xmlUnlinkNode(c);
        xmlFreeNode(c);
      } else if (agent && xmlStrcmp(c->name, (const xmlChar *)"source") == 0)
        xmlUnsetProp(c, (const xmlChar *)"path");
    }
    if (!agent)
      xmlSetProp(node, (const xmlChar *)"type", (const xmlChar *)"pty");
    if (src && !rw->quiet) {
      CLEANUP_FREE char *p = vk_printable(src);
      vk_warn("domain '%s': <%s type='%s'> of the original uses %s: the new one gets %s", name,
              (const char *)node->name, type ? type : "?", p,
              agent ? "a socket of its own" : "a pty instead");
    }
  }
  /* New name, no UUID (libvirt makes one), no MAC addresses, no id. */
  drop_nodes(ctx, "/domain/uuid | /domain/devices/interface/mac | /domain/@id"
                  " | /domain/devices/disk/backingStore");
  CLEANUP_XPATHOBJ xmlXPathObjectPtr nm = vk_xpath_nodes(ctx, NULL, "/domain/name");
  if (vk_xpath_count(nm) != 1) {
    vk_error(VK_EXIT_FAILURE, "%s: no <name> in the domain XML", path);
    return NULL;
  }
  xmlNodeSetContent(nm->nodesetval->nodeTab[0], NULL);
  xmlNodeAddContent(nm->nodesetval->nodeTab[0], (const xmlChar *)name);
  /* Disks: restored ones point at their new image; the others are dropped,
   * so the new domain never shares an image with the old one.
   */
  CLEANUP_XPATHOBJ xmlXPathObjectPtr disks =
    vk_xpath_nodes(ctx, NULL, "/domain/devices/disk[@device='disk' or not(@device)]");
  for (int i = 0; i < vk_xpath_count(disks); i++) {
    xmlNodePtr d = disks->nodesetval->nodeTab[i];
    CLEANUP_FREE char *t = vk_xpath_string(ctx, d, "target/@dev");
    const struct vk_restored *rd = NULL;
    for (size_t j = 0; t && j < n && !rd; j++)
      if (strcmp(r[j].target, t) == 0)
        rd = &r[j];
    disks->nodesetval->nodeTab[i] = NULL;
    if (!rd) {
      xmlUnlinkNode(d);
      xmlFreeNode(d);
      continue;
    }
    xmlSetProp(d, (const xmlChar *)"type", (const xmlChar *)"file");
    for (xmlNodePtr c = d->children; c; c = c->next) {
      if (c->type != XML_ELEMENT_NODE)
        continue;
      if (xmlStrcmp(c->name, (const xmlChar *)"source") == 0) {
        xmlUnsetProp(c, (const xmlChar *)"dev");
        xmlSetProp(c, (const xmlChar *)"file", (const xmlChar *)rd->path);
      } else if (xmlStrcmp(c->name, (const xmlChar *)"driver") == 0)
        xmlSetProp(c, (const xmlChar *)"type", (const xmlChar *)"qcow2");
    }
  }
  if (rw->console) {
    CLEANUP_XPATHOBJ xmlXPathObjectPtr dev = vk_xpath_nodes(ctx, NULL, "/domain/devices");
    if (vk_xpath_count(dev) != 1) {
      vk_error(VK_EXIT_FAILURE, "%s: no <devices> in the domain XML", path);
      return NULL;
    }
    xmlNodePtr serial = xmlNewChild(dev->nodesetval->nodeTab[0], NULL,
                                    (const xmlChar *)"serial", NULL);
    xmlSetProp(serial, (const xmlChar *)"type", (const xmlChar *)"file");
    xmlNodePtr src = xmlNewChild(serial, NULL, (const xmlChar *)"source", NULL);
    xmlSetProp(src, (const xmlChar *)"path", (const xmlChar *)rw->console);
    xmlNodePtr tgt = xmlNewChild(serial, NULL, (const xmlChar *)"target", NULL);
    xmlSetProp(tgt, (const xmlChar *)"port", (const xmlChar *)"0");
  }
  return vk_xml_format(doc);
}

/* Define a new domain from the backed-up XML DOC on the restored images. */
static int
define_domain(virConnectPtr conn, xmlDocPtr doc, const char *path, const char *name,
              const struct vk_restored *r, size_t n)
{
  /* vk_state_restore_nvram ran first: <nvram> is the copy, or gone. */
  struct vk_domain_rewrite rw = { .name = name, .disks = r, .n = n, .own_nvram = true };
  CLEANUP_FREE char *out = vk_domain_rewrite(doc, path, &rw);
  if (!out)
    return -1;
  virDomainPtr dom = virDomainDefineXML(conn, out);
  if (!dom) {
    vk_virt_error("cannot define domain '%s'", name);
    return -1;
  }
  virDomainFree(dom);
  return 0;
}

/* ---- restore ---- */

/* One file a restore reads: a disk file of the chosen backup or of an
 * ancestor it stacks on.
 */
struct chain_file {
  const struct vk_backup_disk *d;
  int fd;                 /* open, a regular file */
  uint64_t size;
  const char *target;     /* the disk whose chain it is in */
  size_t depth;           /* its place in that chain, 0 the top */
};

/* What a restore has under way, for the cleanup on every path. */
struct restore_run {
  int tofd;               /* --to */
  char *absdir;           /* --to, absolute */
  struct vk_private_tmp tmp; /* the private temporary directory in --to */
  struct vk_hash_job *jobs; /* one per chain_file, in the same order */
  struct vk_hasher *hasher; /* hashing them, or NULL */
};

/* Stop and join the hashing threads. */
static void
stop_hashing(struct restore_run *run)
{
  vk_hasher_free(run->hasher);
  run->hasher = NULL;
}

/* Start hashing FILES (vk_hasher_start). */
static int
start_hashing(struct restore_run *run, struct chain_file *files, size_t n)
{
  run->jobs = vk_xcalloc(n, sizeof *run->jobs);
  for (size_t i = 0; i < n; i++) {
    run->jobs[i].fd = files[i].fd;
    run->jobs[i].type = files[i].d->checksum_type;
  }
  return vk_hasher_start(run->jobs, n, &run->hasher);
}

/* Wait for the hashing threads, waking on a signal: 0, or -1 interrupted. */
static int
wait_hashing(struct restore_run *run)
{
  return vk_hasher_wait(run->hasher, vk_stop_fd());
}

/* Create the private temporary directory (mode 0700, unpredictable name),
 * locked (flock) for as long as the restore and its qemu-img run, after
 * sweeping those killed restores left (access.h).
 */
static int
make_tmpdir(struct restore_run *run)
{
  return vk_private_tmp_make(&run->tmp, run->tofd, run->absdir, ".vckpt-restore-", 0700,
                             "restore");
}

/* Run qemu-img convert of SRC into NAME in the temporary directory (given
 * to the child as descriptor 3, so no path can be swapped under it); a stop
 * signal kills and reaps the child.
 */
static int
run_convert(struct restore_run *run, const char *src, const char *name, bool direct)
{
  CLEANUP_FREE char *dst = vk_xasprintf("/dev/fd/3/%s", name);
  char *plain[] = { (char *)QEMU_IMG, "convert", "-q", "-f", "qcow2", "-O", "qcow2",
                    (char *)src, dst, NULL };
  char *odirect[] = { (char *)QEMU_IMG, "convert", "-q", "-t", "none", "-W",
                      "-f", "qcow2", "-O", "qcow2", (char *)src, dst, NULL };
  char **argv = direct ? odirect : plain;
  int status;
  CLEANUP_FREE char *msg = NULL;
  int r = vk_spawn(argv, run->tmp.fd, vk_stop_fd(), &status, &msg);
  if (r < 0)
    return -1;
  if (r == 1 || vk_stop_signal) {
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: qemu-img stopped, nothing was "
             "restored", (int)vk_stop_signal);
    return -1;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return 0;
  if (WIFEXITED(status))
    vk_error(VK_EXIT_FAILURE, "%s convert of %s failed (exit %d)%s%s", argv[0], src,
             WEXITSTATUS(status), *msg ? ": " : "", msg);
  else
    vk_error(VK_EXIT_FAILURE, "%s convert of %s killed by signal %d", argv[0], src,
             WTERMSIG(status));
  return -1;
}

/* How qemu-img writes the image.  The fsync before the rename into place
 * (seal_image) is what makes it durable; what comes before decides how
 * long that fsync waits.  qemu-img's default cache mode for the output of
 * convert is "unsafe": the whole image sat in the page cache and the fsync
 * after the conversion waited for all of it (about as long as the
 * conversion itself here).  So:
 *
 * - Where the directory takes O_DIRECT (probed once, direct_io_works):
 *   `-t none -W`, the image written past the page cache, 8 requests in
 *   flight in any order (-W: the image is only renamed into place after
 *   qemu-img ended well); the fsync then writes the file system's metadata
 *   and flushes the disk cache.
 * - Elsewhere: the default cache mode, and a thread that starts the
 *   writeback of what is dirty every FLUSH_PERIOD_MS
 *   (sync_file_range SYNC_FILE_RANGE_WRITE: it starts writes, never waits
 *   for them), so the disk writes while qemu-img converts and the fsync
 *   waits only for the tail.  sync_file_range guarantees nothing by itself.
 *
 * Measured on the 2-core build machine (HACKING.md, "Restore"): with
 * other work on its cores, both halve the verified restore's time against
 * convert then fsync, O_DIRECT costing the least CPU and being as fast or
 * faster, the thread's writeback far less steady; on a quiet machine all
 * three are bound by the disk's write speed and within noise.
 */
#define FLUSH_PERIOD_MS 50

struct flusher {
  int dirfd;              /* the private temporary directory */
  const char *name;       /* the image qemu-img writes in it */
  int stop[2];            /* closing stop[1] ends the thread */
  pthread_t thread;
};

static void *
flusher_main(void *arg)
{
  struct flusher *f = arg;
  struct pollfd p = { .fd = f->stop[0], .events = POLLIN };
  int fd = -1;
  for (;;) {
    int n = poll(&p, 1, FLUSH_PERIOD_MS);
    if (n > 0 || (n < 0 && errno != EINTR))
      break;
    if (n < 0)
      continue;
    if (fd < 0) {
      /* Until qemu-img has created it; the directory is ours (0700, locked). */
      struct stat st;
      fd = openat(f->dirfd, f->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
      if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
        close(fd);
        fd = -1;
      }
      if (fd < 0)
        continue;
    }
    /* Errors are the fsync's to report. */
    (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
  }
  if (fd >= 0)
    close(fd);
  return NULL;
}

/* Start the writeback thread for NAME in DIRFD: 0, or -1 (then none runs;
 * the restore goes on, its fsync writes everything).
 */
static int
flusher_start(struct flusher *f, int dirfd, const char *name)
{
  *f = (struct flusher) { .dirfd = dirfd, .name = name };
  if (pipe2(f->stop, O_CLOEXEC) < 0)
    return -1;
  /* The thread takes no signal: the main thread's handlers see them all. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  int e = pthread_create(&f->thread, NULL, flusher_main, f);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (e != 0) {
    vk_debug("no writeback thread: %s", strerror(e));
    close(f->stop[0]);
    close(f->stop[1]);
    return -1;
  }
  return 0;
}

static void
flusher_stop(struct flusher *f)
{
  close(f->stop[1]);
  pthread_join(f->thread, NULL);
  close(f->stop[0]);
}

/* Whether a file in the temporary directory opens with O_DIRECT (some
 * file systems refuse it: qemu-img -t none would fail there).
 */
static bool
direct_io_works(struct restore_run *run)
{
  static const char probe[] = ".direct-io-probe";
  if (getenv("VCKPT_TEST_NO_DIRECT_IO")) {
    vk_debug("VCKPT_TEST_NO_DIRECT_IO: images are written through the page cache");
    return false;
  }
  int fd = openat(run->tmp.fd, probe,
                  O_WRONLY | O_CREAT | O_EXCL | O_DIRECT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    vk_debug("%s: no O_DIRECT (%s): images are written through the page cache", run->absdir,
             strerror(errno));
    unlinkat(run->tmp.fd, probe, 0);   /* some file systems create it, then refuse */
    return false;
  }
  /* Some file systems open with O_DIRECT but refuse or botch direct writes
   * (FUSE, 9p): one aligned block written and synced must go through.
   */
  void *buf = NULL;
  bool ok = posix_memalign(&buf, 4096, 4096) == 0;
  if (ok) {
    memset(buf, 0, 4096);
    ok = pwrite(fd, buf, 4096, 0) == 4096 && fdatasync(fd) == 0;
    if (!ok)
      vk_debug("%s: O_DIRECT write refused (%s): images are written through the page cache",
               run->absdir, strerror(errno));
  }
  free(buf);
  close(fd);
  unlinkat(run->tmp.fd, probe, 0);
  return ok;
}

/* qemu-img convert of SRC into NAME (run_convert): with O_DIRECT, or with
 * the writeback thread alongside.
 */
static int
convert_image(struct restore_run *run, const char *src, const char *name, bool direct)
{
  struct flusher f;
  bool flushing = !direct && flusher_start(&f, run->tmp.fd, name) == 0;
  int r = run_convert(run, src, name, direct);
  if (flushing)
    flusher_stop(&f);
  return r;
}

/* A chain with zstd-compressed files flattened by vckpt itself
 * (flatten.h) into NAME: 0, 1 when the chain is left to qemu-img (NAME
 * is gone again), or -1 (reported).  FILES: the disk's chain files.
 *
 * qemu-img convert decompresses one cluster at a time, each a round trip
 * through its thread pool with a fresh zstd context: on the bench's 1 GiB
 * of /usr files it took 3-4x the plain restore's time, whatever its
 * options (-m 16, -W, cache modes, raw output).  Threads of vckpt's own
 * with a zstd context each take 1.1-1.4x (HACKING.md, "Restore").
 */
static int
flatten_image(struct restore_run *run, struct vk_repo *repo, const char *target,
              const struct chain_file *files, size_t nfiles, const char *name, bool direct)
{
  size_t n = 0;
  for (size_t i = 0; i < nfiles; i++)
    n += strcmp(files[i].target, target) == 0;
  struct vk_flatten_link *links = vk_xcalloc(n, sizeof *links);
  char **names = vk_xcalloc(n + 1, sizeof *names);
  for (size_t i = 0; i < nfiles; i++) {
    if (strcmp(files[i].target, target) != 0 || files[i].depth >= n)
      continue;
    names[files[i].depth] = vk_repo_file_where(repo, files[i].d->file);
    links[files[i].depth] = (struct vk_flatten_link) { .fd = files[i].fd,
                                                       .name = names[files[i].depth] };
  }
  struct vk_flatten *fl = NULL;
  int r = vk_flatten_open(links, n, &fl);
  if (r == 1) {
    CLEANUP_FREE char *where = vk_xasprintf("%s/%s/%s", run->absdir, run->tmp.name, name);
    int fd = openat(run->tmp.fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC |
                    (direct ? O_DIRECT : 0), 0600);
    if (fd < 0) {
      vk_error(VK_EXIT_FAILURE, "%s: %s", where, strerror(errno));
      r = -1;
    } else {
      struct flusher f;
      bool flushing = !direct && flusher_start(&f, run->tmp.fd, name) == 0;
      r = vk_flatten_run(fl, fd, where, 0);
      if (flushing)
        flusher_stop(&f);
      close(fd);
      if (r == 1)
        unlinkat(run->tmp.fd, name, 0);
    }
  } else if (r == 0)
    r = 1;
  vk_flatten_free(fl);
  vk_strv_free(names);
  free(links);
  return r;
}

/* Make the image NAME in the temporary directory private (0600) and durable. */
static int
seal_image(struct restore_run *run, const char *name)
{
  CLEANUP_CLOSE int fd = openat(run->tmp.fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || fchmod(fd, 0600) < 0 || fsync(fd) < 0) {
    vk_error(VK_EXIT_FAILURE, "%s/%s/%s: %s", run->absdir, run->tmp.name, name, strerror(errno));
    return -1;
  }
  return 0;
}

/* Collect the files disk TARGET of B reads (its file, then through each
 * backing file its ancestors'), opened as regular files, into *FILES.
 */
static int
collect_chain(struct vk_repo *repo, const struct vk_backup *b, const char *target,
              struct chain_file **files, size_t *n)
{
  const struct vk_backup_disk *d = NULL;
  for (size_t j = 0; j < b->nr_disks && !d; j++)
    if (strcmp(b->disks[j].target, target) == 0)
      d = &b->disks[j];
  size_t max = vk_repo_manifest(repo)->nr_backups + 1;
  for (size_t depth = 0; d; depth++) {
    CLEANUP_FREE char *path = vk_repo_file_where(repo, d->file);
    if (depth > max) {
      vk_error(VK_EXIT_FAILURE, "%s: the backing files form a loop", path);
      return -1;
    }
    struct stat st;
    int fd = vk_repo_open_file(repo, d->file, &st);
    if (fd < 0) {
      vk_error(VK_EXIT_FAILURE, "%s: %s: backup %s cannot be restored", path,
               vk_open_error(errno, &st), b->id);
      return -1;
    }
    *files = vk_xrealloc(*files, (*n + 1) * sizeof **files);
    (*files)[(*n)++] = (struct chain_file) { .d = d, .fd = fd, .size = st.st_size,
                                             .target = target, .depth = depth };
    if (!d->backing)
      break;
    const struct vk_backup_disk *next = vk_repo_find_file(repo, d->backing, NULL);
    if (!next) {
      vk_error(VK_EXIT_FAILURE, "%s: its backing file %s is not in the manifest", path,
               d->backing);
      return -1;
    }
    d = next;
  }
  return 0;
}

/* qsort: chain files by size, largest first. */
static int
by_size_desc(const void *a, const void *b)
{
  const struct chain_file *x = a, *y = b;
  return x->size < y->size ? 1 : x->size > y->size ? -1 : 0;
}

/* Compare the hashes with the manifest: every mismatch is reported. */
static int
check_hashes(struct vk_repo *repo, const struct vk_backup *b, struct chain_file *files,
             const struct vk_hash_job *jobs, size_t n)
{
  int r = 0;
  for (size_t i = 0; i < n; i++) {
    CLEANUP_FREE char *path = vk_repo_file_where(repo, files[i].d->file);
    if (jobs[i].err == EINTR) {
      vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: nothing was restored",
               (int)vk_stop_signal);
      return -1;
    }
    if (jobs[i].err) {
      vk_error(VK_EXIT_FAILURE, "%s: read: %s: backup %s cannot be restored", path,
               strerror(jobs[i].err), b->id);
      r = -1;
    } else if (!files[i].d->checksum || strcmp(jobs[i].hex, files[i].d->checksum) != 0) {
      vk_error(VK_EXIT_FAILURE, "%s: %s mismatch: %s, the manifest says %s: the file "
               "changed since the backup; backup %s was not restored (--no-verify restores "
               "it anyway)", path, vk_sum_name(jobs[i].type), jobs[i].hex,
               files[i].d->checksum ? files[i].d->checksum : "none", b->id);
      r = -1;
    }
  }
  return r;
}

/* The restore itself: checks, conversions into the temporary directory,
 * then every image renamed into place, never replacing a file.
 */
static int
restore_run(virConnectPtr conn, struct vk_repo *repo, const struct vk_backup *b,
            const struct vk_restore_request *req, struct restore_run *run,
            struct vk_restored *out, size_t *n, struct chain_file **files, size_t *nfiles)
{
  CLEANUP_XMLDOC xmlDocPtr ddoc = NULL;
  CLEANUP_FREE char *dxml_path = vk_repo_file_where(repo, b->domain_xml);
  if (req->define && !(ddoc = prepare_define(conn, repo, b, req->define)))
    return -1;
  /* The names, all free, and the files each disk reads. */
  size_t count = 0;
  for (size_t j = 0; j < b->nr_disks; j++) {
    const struct vk_backup_disk *d = &b->disks[j];
    if (req->disks && !vk_strv_contains(req->disks, d->target))
      continue;
    CLEANUP_FREE char *name = req->define ? vk_xasprintf("%s-%s.qcow2", req->define, d->target)
                                          : vk_xasprintf("%s.qcow2", d->target);
    out[count++] = (struct vk_restored) {
      .target = vk_xstrdup(d->target),
      .path = vk_xasprintf("%s/%s", run->absdir, name),
    };
    struct stat st;
    if (fstatat(run->tofd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT) {
      vk_error(VK_EXIT_FAILURE, "%s/%s already exists: restore never replaces a file",
               run->absdir, name);
      return -1;
    }
    /* Even without verification qemu-img must read exactly the recorded
     * chain of regular files: the headers' backing names are checked.
     */
    CLEANUP_FREE char *why = NULL;
    int rc = vk_repo_check_disk_chain(repo, b, d->target, !req->no_verify, &why);
    if (rc < 0)
      return -1;
    if (rc > 0) {
      vk_error(VK_EXIT_FAILURE, "%s: %s: backup %s cannot be restored%s", vk_repo_where(repo),
               why, b->id, req->no_verify ? "" : " (--no-verify restores it anyway)");
      return -1;
    }
    if (collect_chain(repo, b, d->target, files, nfiles) < 0)
      return -1;
  }
  if (make_tmpdir(run) < 0)
    return -1;
  /* The largest files first: the hashing ends sooner. */
  qsort(*files, *nfiles, sizeof **files, by_size_desc);
  if (!req->no_verify && start_hashing(run, *files, *nfiles) < 0)
    return -1;
  bool direct = direct_io_works(run);
  for (size_t i = 0; i < count; i++) {
    if (vk_stop_signal) {
      vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: nothing was restored",
               (int)vk_stop_signal);
      return -1;
    }
    const char *name = strrchr(out[i].path, '/') + 1;
    const struct vk_backup_disk *d = NULL;
    for (size_t j = 0; j < b->nr_disks && !d; j++)
      if (strcmp(b->disks[j].target, out[i].target) == 0)
        d = &b->disks[j];
    CLEANUP_FREE char *src = vk_repo_target(repo, d->file);
    int flat = flatten_image(run, repo, d->target, *files, *nfiles, name, direct);
    if (flat < 0)
      return -1;
    if (flat == 0)
      vk_debug("disk %s: %s flattened by vckpt", d->target, src);
    else
      vk_debug("disk %s: qemu-img convert %s", d->target, src);
    if ((flat == 1 && convert_image(run, src, name, direct) < 0) || seal_image(run, name) < 0)
      return -1;
  }
  if (!req->no_verify) {
    if (wait_hashing(run) < 0) {
      vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: nothing was restored",
               (int)vk_stop_signal);
      return -1;
    }
    if (check_hashes(repo, b, *files, run->jobs, *nfiles) < 0)
      return -1;
  }
  if (vk_stop_signal) {
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: nothing was restored",
             (int)vk_stop_signal);
    return -1;
  }
  /* Into place, never replacing a file; on failure the ones moved go. */
  for (size_t i = 0; i < count; i++) {
    const char *name = strrchr(out[i].path, '/') + 1;
    int rc = renameat2(run->tmp.fd, name, run->tofd, name, RENAME_NOREPLACE);
    if (rc < 0 && (errno == EINVAL || errno == ENOSYS)) {
      rc = linkat(run->tmp.fd, name, run->tofd, name, 0);
      if (rc == 0)
        unlinkat(run->tmp.fd, name, 0);
    }
    if (rc < 0) {
      vk_error(VK_EXIT_FAILURE, "%s: %s", out[i].path,
               errno == EEXIST ? "already exists: restore never replaces a file"
                               : strerror(errno));
      while (i-- > 0)
        unlinkat(run->tofd, strrchr(out[i].path, '/') + 1, 0);
      *n = 0;
      return -1;
    }
    *n = i + 1;
  }
  if (fsync(run->tofd) < 0)
    vk_warn("%s: fsync: %s", run->absdir, strerror(errno));
  if (req->define &&
      (vk_state_restore_nvram(repo, b, ddoc, run->tofd, run->absdir, req->define,
                              !req->no_verify) < 0 ||
       define_domain(conn, ddoc, dxml_path, req->define, out, *n) < 0 ||
       vk_state_restore_tpm(conn, repo, b, req->define, !req->no_verify) < 0)) {
    vk_state_restore_undo(run->tofd);
    return -1;
  }
  return 0;
}

int
vk_restore(virConnectPtr conn, const struct vk_restore_request *req, char **backup_id,
           struct vk_restored **out, size_t *n)
{
  struct vk_repo *repo = NULL;
  struct stat st;
  *out = NULL;
  *n = 0;
  CLEANUP_CLOSE int tofd = -1;
  CLEANUP_FREE char *absdir = NULL;
  if (req->define) {
    /* The defined domain names its images by path in --to: only root may
     * change it, and QEMU's user must reach it (access.h).
     */
    struct vk_qemu_user qu;
    tofd = vk_domain_dir_open(conn, req->to, "--to", &absdir, &qu);
    if (tofd < 0)
      return -1;
  } else {
    tofd = open(req->to, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (tofd < 0 || fstat(tofd, &st) < 0) {
      vk_error(errno == ENOENT ? VK_EXIT_NOT_FOUND : errno == ENOTDIR ? VK_EXIT_USAGE
                                                                      : VK_EXIT_FAILURE,
               "--to %s: %s", req->to, errno == ENOTDIR ? "not a directory" : strerror(errno));
      return -1;
    }
    absdir = realpath(req->to, NULL);
    if (!absdir) {
      vk_error(VK_EXIT_FAILURE, "--to %s: %s", req->to, strerror(errno));
      return -1;
    }
  }
  /* From here a stop signal removes what was written (exit 6); once the
   * images are in place it comes too late.
   */
  vk_stop_catch_begin();
  if (vk_repo_open(req->repo_dir, req->domain, false, false, &repo) < 0) {
    vk_stop_catch_end();
    return -1;
  }
  const struct vk_backup *b = NULL;
  if (vk_repo_find_point(repo, req->at, &b) < 0)
    b = NULL;
  for (size_t i = 0; b && req->disks && req->disks[i]; i++) {
    bool found = false;
    for (size_t j = 0; j < b->nr_disks; j++)
      found |= strcmp(b->disks[j].target, req->disks[i]) == 0;
    if (!found) {
      vk_error(VK_EXIT_NOT_FOUND, "backup %s has no disk '%s'", b->id, req->disks[i]);
      b = NULL;
    }
  }
  if (!b) {
    vk_repo_close(repo);
    vk_stop_catch_end();
    return -1;
  }
  struct restore_run run = { .tofd = tofd, .absdir = absdir, .tmp = { .fd = -1 } };
  struct chain_file *files = NULL;
  size_t nfiles = 0;
  *out = vk_xcalloc(b->nr_disks, sizeof **out);
  int r = restore_run(conn, repo, b, req, &run, *out, n, &files, &nfiles);
  stop_hashing(&run);
  free(run.jobs);
  vk_private_tmp_remove(&run.tmp);
  if (r == 0 && vk_stop_signal)
    vk_warn("signal %d came too late to stop the restore: it is complete",
            (int)vk_stop_signal);
  if (r == 0)
    *backup_id = vk_xstrdup(b->id);
  else if (*out) {
    /* Nothing half-done: the images moved into place so far are removed. */
    for (size_t i = 0; i < *n; i++)
      unlinkat(tofd, strrchr((*out)[i].path, '/') + 1, 0);
    vk_restored_free(*out, b->nr_disks);   /* unused entries are zeroed */
    *out = NULL;
    *n = 0;
  }
  for (size_t i = 0; i < nfiles; i++)
    close(files[i].fd);
  free(files);
  vk_repo_close(repo);
  vk_stop_catch_end();
  return r;
}
