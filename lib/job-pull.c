/* vckpt - the pull job: libvirt's pull-mode backup (virDomainBackupBegin
 * with <domainbackup mode='pull'>).  QEMU exports each disk at the
 * backup's point in time over NBD, and vckpt copies it with libnbd into the
 * target files: an uncompressed one written by vckpt's own qcow2 writer
 * (lib/qcow2w.c: from libnbd's buffer into the file, no second hop), a
 * compressed one through a qemu-storage-daemon of vckpt's (exported over
 * NBD on a private socket, with QEMU's compress filter for zstd).
 *
 *   start  the writers take over the new targets (the daemon opens the
 *          compressed ones), then virDomainBackupBegin, which creates the
 *          checkpoint at the backup's point in time (frozen around it with
 *          --quiesce).  A local domain's export is a UNIX socket in a
 *          directory only root and QEMU's user can enter; a remote one's
 *          is TCP with TLS, the server's certificate always verified.
 *   wait   per disk, workers with their own connections each take the next
 *          window of the disk: the export's allocation (base:allocation)
 *          and, for an increment, its dirty bitmap
 *          (qemu:dirty-bitmap:backup-DISK) say which clusters of the
 *          target to write; each is written whole (one partly dirty is
 *          read whole: the rest is the same at the point in time), in
 *          requests of up to 1 MiB; clusters of zeros stay sparse (an
 *          increment records them as zeros: they hide older data).  Then
 *          the writers finish the files (tables, refcounts), libvirt's job
 *          is ended (virDomainAbortJob: a pull job has no end of its own;
 *          libvirt removes the scratch files and the socket) and the daemon
 *          quits, which closes its files.  The seal fsyncs every file.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <libnbd.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>

#include "access.h"
#include "backup.h"
#include "cleanup.h"
#include "flow.h"
#include "hostlock.h"
#include "job.h"
#include "process.h"
#include "qcow2w.h"
#include "qmp.h"
#include "quiesce.h"
#include "testhook.h"
#include "util.h"
#include "virt.h"
#include "xml.h"

#define CMD_MS 60000                    /* time limit of one QMP command */
#define WORKERS 4                       /* connection pairs per disk */
#define WINDOW (256ULL << 20)           /* what a worker takes at a time */
#define REQUEST (1U << 20)              /* the largest read or write */
#define ZERO_REQUEST (64U << 20)        /* the largest write of zeros */
#define SCRATCH_PREFIX "vckpt-scratch-"

static double
now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One disk of the job. */
struct pdisk {
  const struct vk_job_disk *jd;
  char *bitmap;                 /* the export's dirty bitmap context; NULL: copied whole */
  char *scratch;                /* libvirt's scratch file (on the hypervisor) */
  uint64_t size;                /* of the export */
  struct vk_qcow2w *w;          /* vckpt's writer of the target; NULL: the daemon's */
  uint32_t cs;                  /* the target's cluster size */
};

struct pull {
  struct pdisk *d;
  size_t n;
  char **scratch;               /* the scratch files, for the XML */
  struct vk_private_tmp tmp;    /* local: the run's directory (0711) */
  int basefd;                   /* the directory TMP is in */
  char *base;
  char *nbd_dir;                /* TMP/nbd: QEMU's user's, 0700: libvirt's socket */
  char *sock;                   /* libvirt's export (local) */
  char *qsd_sock;               /* the daemon's export of the targets */
  struct vk_nbd_server srv;
  const char *tls_dir;          /* remote: the client's certificates */
  int timeout;                  /* remote: seconds a silent network is given */
  struct vk_qmp *q;
  bool begun, catching, quiesced, unquiesced, ended;
  double start;
  /* The copy of one disk (the workers share it). */
  pthread_mutex_t lock;
  pthread_cond_t cond;
  size_t disk;
  uint64_t next;                /* the next window's offset */
  int running;                  /* workers not yet finished */
  atomic_bool stop;
  atomic_bool hooked;           /* the test hook "pull-copying" was passed */
  atomic_ullong done;           /* bytes read or zeroed, all disks */
  uint64_t total;               /* the disks' sizes */
  char *error;                  /* the first failure */
};

static char *
qsd_path(void)
{
  const char *slash = strrchr(QEMU_IMG, '/');
  return vk_xasprintf("%.*sqemu-storage-daemon", slash ? (int)(slash - QEMU_IMG + 1) : 0,
                      QEMU_IMG);
}

/* libnbd's last error of this thread, with the errno under it when the
 * message does not say it (GnuTLS: "Error in the pull function").
 */
static const char *
nbd_why(void)
{
  static __thread char buf[512];
  const char *m = nbd_get_error();
  int e = nbd_get_errno();
  if (!m)
    return "out of memory";
  if (e <= 0 || strstr(m, strerror(e)))
    return m;
  snprintf(buf, sizeof buf, "%s (%s)", m, strerror(e));
  return buf;
}

/* Record the first failure (a worker's or the main thread's) and stop. */
static void
fail(struct pull *p, char *msg)
{
  pthread_mutex_lock(&p->lock);
  if (!p->error)
    p->error = msg;
  else
    free(msg);
  p->stop = true;
  pthread_mutex_unlock(&p->lock);
}

static json_object *
jstr(const char *s)
{
  return json_object_new_string(s);
}

static int
qmp(struct pull *p, const char *what, const char *cmd, json_object *args)
{
  CLEANUP_FREE char *err = NULL;
  if (vk_qmp_execute(p->q, cmd, args, CMD_MS, NULL, &err) == 0)
    return 0;
  vk_error(VK_EXIT_FAILURE, "%s: %s", what, err);
  return -1;
}

/* The daemon that writes the compressed targets (if any): each opened (a
 * qcow2 node over a file node that never flushes on its own: the seal
 * fsyncs each file once; an increment with its backing chain) under QEMU's
 * compress filter, exported writable under the disk's name.
 */
static int
start_daemon(struct pull *p)
{
  CLEANUP_FREE char *prog = qsd_path();
  bool server = false;
  for (size_t i = 0; i < p->n; i++) {
    const struct vk_job_disk *jd = p->d[i].jd;
    if (!jd->compress)
      continue;
    if (!p->q && !(p->q = vk_qmp_start(prog)))
      return -1;
    CLEANUP_FREE char *fn = vk_xasprintf("t%zuf", i);
    CLEANUP_FREE char *qn = vk_xasprintf("t%zuq", i);
    CLEANUP_FREE char *cn = vk_xasprintf("t%zuc", i);
    CLEANUP_FREE char *eid = vk_xasprintf("e%zu", i);
    CLEANUP_FREE char *what = vk_xasprintf("disk %s: cannot open the target %s", jd->target,
                                           jd->file);
    json_object *a = json_object_new_object();
    json_object_object_add(a, "driver", jstr("file"));
    json_object_object_add(a, "node-name", jstr(fn));
    json_object_object_add(a, "filename", jstr(jd->file));
    json_object *cache = json_object_new_object();
    json_object_object_add(cache, "no-flush", json_object_new_boolean(1));
    json_object_object_add(a, "cache", cache);
    if (qmp(p, what, "blockdev-add", a) < 0)
      return -1;
    a = json_object_new_object();
    json_object_object_add(a, "driver", jstr("qcow2"));
    json_object_object_add(a, "node-name", jstr(qn));
    json_object_object_add(a, "file", jstr(fn));
    if (!jd->backing)
      json_object_object_add(a, "backing", NULL);
    json_object_object_add(a, "read-only", json_object_new_boolean(0));
    if (qmp(p, what, "blockdev-add", a) < 0)
      return -1;
    if (jd->compress) {
      a = json_object_new_object();
      json_object_object_add(a, "driver", jstr("compress"));
      json_object_object_add(a, "node-name", jstr(cn));
      json_object_object_add(a, "file", jstr(qn));
      if (qmp(p, what, "blockdev-add", a) < 0)
        return -1;
    }
    if (!server) {
      /* nbd-server-start takes the legacy SocketAddress form. */
      server = true;
      json_object *data = json_object_new_object();
      json_object_object_add(data, "path", jstr(p->qsd_sock));
      json_object *addr = json_object_new_object();
      json_object_object_add(addr, "type", jstr("unix"));
      json_object_object_add(addr, "data", data);
      a = json_object_new_object();
      json_object_object_add(a, "addr", addr);
      if (qmp(p, "cannot start qemu-storage-daemon's NBD server", "nbd-server-start", a) < 0)
        return -1;
    }
    a = json_object_new_object();
    json_object_object_add(a, "type", jstr("nbd"));
    json_object_object_add(a, "id", jstr(eid));
    json_object_object_add(a, "node-name", jstr(jd->compress ? cn : qn));
    json_object_object_add(a, "name", jstr(jd->target));
    json_object_object_add(a, "writable", json_object_new_boolean(1));
    if (qmp(p, what, "block-export-add", a) < 0)
      return -1;
  }
  return 0;
}

/* vckpt's own writers of the uncompressed targets (lib/qcow2w.c): the
 * data goes from libnbd's buffer into the file, with no second hop.
 */
static int
open_writers(struct pull *p)
{
  for (size_t i = 0; i < p->n; i++) {
    const struct vk_job_disk *jd = p->d[i].jd;
    p->d[i].cs = 64 << 10;            /* qemu-img create's, for the daemon's targets */
    if (jd->compress)
      continue;
    CLEANUP_FREE char *err = NULL;
    if (vk_qcow2w_open(jd->file, jd->backing != NULL, &p->d[i].w, &err) < 0) {
      vk_error(VK_EXIT_FAILURE, "disk %s: cannot write the target: %s", jd->target, err);
      return -1;
    }
    p->d[i].cs = vk_qcow2w_cluster_size(p->d[i].w);
  }
  return 0;
}

/* The run's directory: local, in $VCKPT_LOCK_DIR-nbd (else /run/vckpt-nbd),
 * 0711, with the daemon's socket, and its subdirectory "nbd", QEMU's user's
 * and 0700, in which QEMU creates the export's socket: only root and QEMU
 * can connect to it.
 */
static int
make_dirs(struct vk_job *job, struct pull *p)
{
  p->base = vk_xasprintf("%s-nbd", vk_run_dir());
  p->basefd = vk_dir_open_private(p->base, "NBD socket directory", 0711);
  if (p->basefd < 0)
    return -1;
  struct stat st;
  if (fstat(p->basefd, &st) == 0 && (st.st_mode & 0011) != 0011 && fchmod(p->basefd, 0711) < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: chmod: %s", p->base, strerror(errno));
    return -1;
  }
  if (vk_private_tmp_make(&p->tmp, p->basefd, p->base, "pull-", 0711, "pull backup") < 0)
    return -1;
  CLEANUP_FREE char *dir = vk_xasprintf("%s/%s", p->base, p->tmp.name);
  p->qsd_sock = vk_xasprintf("%s/writer.sock", dir);
  if (p->srv.host)
    return 0;
  struct vk_qemu_user qu = { 0 };
  vk_qemu_user(job->spec.conn, job->spec.dom, &qu);
  if (mkdirat(p->tmp.fd, "nbd", 0700) < 0 ||
      (qu.known && fchownat(p->tmp.fd, "nbd", qu.uid, qu.gid, AT_SYMLINK_NOFOLLOW) < 0)) {
    vk_error(VK_EXIT_FAILURE, "cannot make the NBD socket directory in %s: %s", dir,
             strerror(errno));
    return -1;
  }
  p->nbd_dir = vk_xasprintf("%s/nbd", dir);
  p->sock = vk_xasprintf("%s/export.sock", p->nbd_dir);
  p->srv.socket = p->sock;
  return 0;
}

/* A token of this backup for the scratch files' names: what a later run,
 * which knows only the target files, recognises (pull_reclaim).
 */
static char *
run_token(const char *first_file)
{
  uint64_t h = 1469598103934665603ULL;       /* FNV-1a */
  for (const char *c = first_file; *c; c++)
    h = (h ^ (unsigned char)*c) * 1099511628211ULL;
  return vk_xasprintf("%016llx", (unsigned long long)h);
}

/* The scratch file of each disk: in the configured directory, else next
 * to the disk's image on the hypervisor (a directory QEMU reaches, on a
 * file system meant for the disk's data), named with the run's token and
 * six random characters.
 */
static int
scratch_names(struct vk_job *job, struct pull *p)
{
  const struct vk_job_spec *s = &job->spec;
  CLEANUP_DISKS struct vk_disks disks = { 0 };
  if (vk_domain_disks(s->dom, 0, &disks) < 0)
    return -1;
  CLEANUP_FREE char *token = run_token(s->disks[0].file);
  for (size_t i = 0; i < p->n; i++) {
    const char *dir = s->pull ? s->pull->scratch_dir : NULL;
    CLEANUP_FREE char *own = NULL;
    if (!dir) {
      const struct vk_disk *d = vk_disks_find(&disks, s->disks[i].target);
      const char *slash = d && d->source ? strrchr(d->source, '/') : NULL;
      if (!slash || slash == d->source) {
        vk_error(VK_EXIT_FAILURE, "disk %s: no directory for the pull backup's scratch file "
                 "(its source is not a file): set scratch-dir in the policy file",
                 s->disks[i].target);
        return -1;
      }
      own = vk_xasprintf("%.*s", (int)(slash - d->source), d->source);
      dir = own;
    }
    char rnd[7];
    vk_random_hex6(rnd);
    p->scratch[i] = vk_xasprintf("%s/" SCRATCH_PREFIX "%s-%s-%s.qcow2", dir, token,
                                 s->disks[i].target, rnd);
    p->d[i].scratch = p->scratch[i];
  }
  return 0;
}

static char *
pull_describe(struct vk_job *job)
{
  struct pull *p = job->priv;
  const struct vk_job_spec *s = &job->spec;
  char *const *scratch = p ? p->scratch : NULL;
  CLEANUP_STRV char **shown = NULL;
  struct vk_nbd_server srv = { .socket = "(a private directory)/export.sock" };
  if (p && (p->srv.socket || p->srv.host))
    srv = p->srv;
  else if (s->pull && s->pull->host)
    srv = (struct vk_nbd_server) { .host = s->pull->host, .port = s->pull->port_min };
  if (!scratch) {
    shown = vk_xcalloc(s->n + 1, sizeof *shown);
    for (size_t i = 0; i < s->n; i++)
      shown[i] = vk_xasprintf("%s/" SCRATCH_PREFIX "...-%s.qcow2",
                              s->pull && s->pull->scratch_dir ? s->pull->scratch_dir
                              : "(the disk's directory)", s->disks[i].target);
    scratch = shown;
  }
  xmlDocPtr doc = vk_backup_pull_xml(s->incremental, s->disks, s->n, s->all, &srv, scratch);
  char *xml = vk_xml_format(doc);
  xmlFreeDoc(doc);
  return xml;
}

static int
pull_prepare(struct vk_job *job)
{
  for (size_t i = 0; i < job->spec.n; i++) {
    if (vk_stop_signal)
      return 1;
    if (vk_target_create(&job->spec.disks[i]) < 0)
      return -1;
  }
  return 0;
}

/* The client certificates of a remote export: the directory must hold
 * them (libnbd would otherwise fall back to the system's CAs, and GnuTLS
 * reports a missing file obscurely).
 */
int
vk_pull_tls_check(const char *dir)
{
  static const char *const need[] = { "ca-cert.pem", "client-cert.pem", "client-key.pem" };
  for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
    CLEANUP_FREE char *f = vk_xasprintf("%s/%s", dir, need[i]);
    struct stat st;
    if (stat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
      vk_error(VK_EXIT_USAGE, "pull mode from a remote host needs TLS client certificates: "
               "%s is missing (nbd-tls-dir in the policy file; see PULL MODE AND REMOTE HOSTS "
               "in vckpt(1))", f);
      return -1;
    }
  }
  return 0;
}

/* virDomainBackupBegin in pull mode (vk_quiesce_around calls it).  A
 * remote export takes the first free port of the range, from a random
 * start: a port in use is tried again with the next one.
 */
static int
pull_begin(void *opaque)
{
  struct vk_job *job = opaque;
  struct pull *p = job->priv;
  const struct vk_job_spec *s = &job->spec;
  unsigned long version = 0;
  if (virConnectGetLibVersion(s->conn, &version) < 0)
    version = 0;
  unsigned int flags = vk_backup_begin_flags(version) & ~VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL;
  int tries = 1, first = 0;
  if (p->srv.host) {
    tries = s->pull->port_max - s->pull->port_min + 1;
    char rnd[7];
    vk_random_hex6(rnd);
    first = (int)(strtoul(rnd, NULL, 16) % (unsigned)tries);
  }
  for (int t = 0; t < tries; t++) {
    if (p->srv.host)
      p->srv.port = s->pull->port_min + (first + t) % tries;
    CLEANUP_FREE char *xml = pull_describe(job);
    if (virDomainBackupBegin(s->dom, xml, s->checkpoint_xml, flags) == 0) {
      p->begun = true;
      return 0;
    }
    const char *m = vk_virt_last_message();
    if (!p->srv.host || !m || (!strstr(m, "Address already in use") &&
                               !strstr(m, "Failed to bind")))
      break;
  }
  vk_virt_job_error("cannot start the pull backup");
  return -1;
}

static int
pull_start(struct vk_job *job)
{
  const struct vk_job_spec *s = &job->spec;
  struct pull *p = vk_xcalloc(1, sizeof *p);
  job->priv = p;
  p->basefd = -1;
  p->tmp.fd = -1;
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->cond, NULL);
  p->n = s->n;
  p->d = vk_xcalloc(p->n, sizeof *p->d);
  p->scratch = vk_xcalloc(p->n + 1, sizeof *p->scratch);
  p->srv.host = s->pull ? s->pull->host : NULL;
  p->tls_dir = s->pull ? s->pull->tls_dir : NULL;
  p->timeout = s->pull && s->pull->timeout > 0 ? s->pull->timeout : 60;
  for (size_t i = 0; i < p->n; i++) {
    p->d[i].jd = &s->disks[i];
    if (s->incremental && !s->disks[i].whole)
      p->d[i].bitmap = vk_xasprintf("qemu:dirty-bitmap:backup-%s", s->disks[i].target);
  }
  if ((p->srv.host && vk_pull_tls_check(s->pull->tls_dir) < 0) || make_dirs(job, p) < 0 ||
      scratch_names(job, p) < 0 || open_writers(p) < 0 || start_daemon(p) < 0)
    return -1;
  vk_stop_catch_begin();
  p->catching = true;
  p->start = now();
  if (vk_stop_signal) {
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d before the backup started",
             (int)vk_stop_signal);
    return -1;
  }
  return vk_quiesce_around(s->conn, s->dom, s->quiesce, s->quiesce_try, pull_begin, job,
                           &p->quiesced, &p->unquiesced);
}

/* Connect H (export NAME) to libvirt's export: the UNIX socket, or TCP
 * with TLS required and the server verified against the CA of TLS_DIR.
 */
static int
connect_source(struct pull *p, struct nbd_handle *h, const char *name)
{
  /* libnbd clears the buffer before every read (its default, kept: a
   * server that answered short could otherwise leave the last read's
   * bytes in a backup).
   */
  if (nbd_set_export_name(h, name) < 0 ||
      nbd_add_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) < 0)
    return -1;
  if (p->d[p->disk].bitmap && nbd_add_meta_context(h, p->d[p->disk].bitmap) < 0)
    return -1;
  if (!p->srv.host)
    return nbd_connect_unix(h, p->sock);
  char port[16];
  snprintf(port, sizeof port, "%d", p->srv.port);
  if (nbd_set_tls(h, LIBNBD_TLS_REQUIRE) < 0 ||
      nbd_set_tls_certificates(h, p->tls_dir) < 0 ||
      nbd_set_tls_verify_peer(h, true) < 0 ||
      nbd_aio_connect_tcp(h, p->srv.host, port) < 0)
    return -1;
  /* A network that goes away must fail the backup, not hang it, also
   * during the TLS handshake and the negotiation: the options go on the
   * socket as soon as libnbd has made it.  Data left unacknowledged, or a
   * silent peer (keepalive probes), for longer than the timeout ends the
   * connection (ETIMEDOUT).
   */
  unsigned ms = (unsigned)p->timeout * 1000;
  int idle = p->timeout / 3 > 0 ? p->timeout / 3 : 1, cnt = 3, on = 1;
  int set = -1;
  for (;;) {
    int fd = nbd_aio_get_fd(h);
    if (fd >= 0 && fd != set) {
      setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms);
      setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &idle, sizeof idle);
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
      set = fd;
    }
    if (nbd_aio_is_ready(h) == 1)
      return 0;
    if (nbd_aio_is_connecting(h) != 1 || nbd_poll(h, -1) < 0)
      return -1;
  }
}

/* What block status said, for one context, as extents of the window. */
struct extents {
  uint64_t *off, *len;
  uint32_t *flags;
  size_t n, cap;
  uint64_t known;               /* described up to here */
};

static void
extents_add(struct extents *e, uint64_t off, uint64_t len, uint32_t flags)
{
  if (e->n && e->flags[e->n - 1] == flags && e->off[e->n - 1] + e->len[e->n - 1] == off) {
    e->len[e->n - 1] += len;
    return;
  }
  if (e->n == e->cap) {
    e->cap = e->cap ? e->cap * 2 : 64;
    e->off = vk_xrealloc(e->off, e->cap * sizeof *e->off);
    e->len = vk_xrealloc(e->len, e->cap * sizeof *e->len);
    e->flags = vk_xrealloc(e->flags, e->cap * sizeof *e->flags);
  }
  e->off[e->n] = off;
  e->len[e->n] = len;
  e->flags[e->n] = flags;
  e->n++;
}

static void
extents_free(struct extents *e)
{
  free(e->off);
  free(e->len);
  free(e->flags);
  memset(e, 0, sizeof *e);
}

struct status_ctx {
  const char *bitmap;
  struct extents *alloc, *dirty;
  uint64_t end;
};

/* libnbd's extent callback: append what lies beyond what is known. */
static int
on_extents(void *opaque, const char *metacontext, uint64_t offset, uint32_t *entries,
           size_t nr_entries, int *error)
{
  struct status_ctx *c = opaque;
  struct extents *e = strcmp(metacontext, LIBNBD_CONTEXT_BASE_ALLOCATION) == 0 ? c->alloc
                      : c->bitmap && strcmp(metacontext, c->bitmap) == 0 ? c->dirty : NULL;
  if (!e || *error)
    return 0;
  uint64_t pos = offset;
  for (size_t i = 0; i + 1 < nr_entries && pos < c->end; i += 2) {
    uint64_t len = entries[i], end = pos + len > c->end ? c->end : pos + len;
    if (end > e->known) {
      uint64_t from = pos > e->known ? pos : e->known;
      extents_add(e, from, end - from, entries[i + 1]);
      e->known = end;
    }
    pos += len;
  }
  return 0;
}

/* Fill ALLOC (and DIRTY) for [OFF, END) with block status requests. */
static int
window_status(struct nbd_handle *h, const char *bitmap, uint64_t off, uint64_t end,
              struct extents *alloc, struct extents *dirty)
{
  struct status_ctx c = { .bitmap = bitmap, .alloc = alloc, .dirty = dirty, .end = end };
  alloc->known = dirty->known = off;
  for (;;) {
    uint64_t from = alloc->known;
    if (bitmap && dirty->known < from)
      from = dirty->known;
    if (from >= end)
      return 0;
    uint64_t len = end - from;
    if (len > (1ULL << 31))
      len = 1ULL << 31;
    if (nbd_block_status(h, len, from,
                         (nbd_extent_callback) { .callback = on_extents, .user_data = &c },
                         0) < 0)
      return -1;
    if (alloc->known == from && (!bitmap || dirty->known == from)) {
      errno = EPROTO;
      return -1;              /* no progress: the server described nothing */
    }
  }
}

static bool
all_zero(const char *buf, size_t len)
{
  return len == 0 || (buf[0] == 0 && memcmp(buf, buf + 1, len - 1) == 0);
}

/* What to do with each cluster of a window. */
enum { C_SKIP, C_ZERO, C_DATA };

/* Mark the clusters [S0, S1) touches in MAP, the window at OFF (ending at
 * END): data, every cluster touched to be read whole (the rest of one
 * touched in part is the same at the export's point in time); or zeros, the
 * clusters covered whole to read as zeros, one covered in part to be read.
 */
static void
mark(uint8_t *map, uint64_t off, uint64_t end, uint32_t cs, uint64_t s0, uint64_t s1,
     bool zero)
{
  for (uint64_t c = (s0 - off) / cs; off + c * cs < s1; c++) {
    uint64_t b0 = off + c * cs, b1 = b0 + cs < end ? b0 + cs : end;
    uint8_t v = zero && s0 <= b0 && b1 <= s1 ? C_ZERO : C_DATA;
    if (map[c] < v)
      map[c] = v;
  }
}

/* Write LEN bytes of data read at OFF into the target.  Clusters of zeros
 * are left out of a target without a backing file, and written as zeros
 * into one with (they hide older data).  0, -1 (libnbd's error), or -2
 * after reporting.
 */
static int
put_data(struct pull *p, struct pdisk *d, struct nbd_handle *dst, const char *buf,
         uint64_t off, uint64_t len)
{
  if (d->w) {
    if (vk_qcow2w_write(d->w, buf, off, len) == 0)
      return 0;
    fail(p, vk_xasprintf("disk %s: cannot write the target %s: %s", d->jd->target,
                         d->jd->file, strerror(errno)));
    return -2;
  }
  bool backing = d->jd->backing != NULL;
  for (uint64_t pos = 0; pos < len;) {
    uint64_t run = 0;
    bool zero = all_zero(buf + pos, len - pos < d->cs ? len - pos : d->cs);
    while (pos + run < len) {
      uint64_t m = len - pos - run < d->cs ? len - pos - run : d->cs;
      if (all_zero(buf + pos + run, m) != zero)
        break;
      run += m;
    }
    if (!zero ? nbd_pwrite(dst, buf + pos, run, off + pos, 0) < 0
        : backing && nbd_zero(dst, run, off + pos, 0) < 0)
      return -1;
    pos += run;
  }
  return 0;
}

/* Record [OFF, OFF+LEN) as reading zeros (an increment's target). */
static int
put_zeros(struct pull *p, struct pdisk *d, struct nbd_handle *dst, uint64_t off, uint64_t len)
{
  if (d->w) {
    if (vk_qcow2w_zero(d->w, off, len) == 0)
      return 0;
    fail(p, vk_xasprintf("disk %s: cannot write the target %s: %s", d->jd->target,
                         d->jd->file, strerror(errno)));
    return -2;
  }
  for (uint64_t pos = 0; pos < len; pos += ZERO_REQUEST)
    if (nbd_zero(dst, len - pos < ZERO_REQUEST ? len - pos : ZERO_REQUEST, off + pos, 0) < 0)
      return -1;
  return 0;
}

/* Read [OFF, OFF+LEN) from the export and write it, a request at a time. */
static int
copy_data(struct pull *p, struct pdisk *d, struct nbd_handle *src, struct nbd_handle *dst,
          char *buf, uint64_t off, uint64_t len, uint64_t *counted)
{
  int r = 0;
  while (len > 0 && !p->stop && r == 0) {
    uint64_t n = len > REQUEST ? REQUEST : len;
    if (nbd_pread(src, buf, n, off, 0) < 0)
      return -1;
    /* Tests stop here once, in the middle of the copy. */
    if (!atomic_exchange(&p->hooked, true))
      vk_test_hook("pull-copying");
    r = put_data(p, d, dst, buf, off, n);
    p->done += n;
    *counted += n;
    off += n;
    len -= n;
  }
  return r;
}

/* Copy one window [OFF, END): the allocation's extents, limited to the
 * dirty ones for an increment, in whole clusters of the target.  0, -1
 * (libnbd's error), or -2 after reporting.
 */
static int
copy_window(struct pull *p, struct pdisk *d, struct nbd_handle *src, struct nbd_handle *dst,
            char *buf, uint64_t off, uint64_t end)
{
  struct extents alloc = { 0 }, dirty = { 0 };
  int r = window_status(src, d->bitmap, off, end, &alloc, &dirty);
  bool backing = d->jd->backing != NULL;
  size_t n = (size_t)((end - off + d->cs - 1) / d->cs), k = 0;
  uint8_t *map = vk_xcalloc(n, 1);
  for (size_t i = 0; r == 0 && i < alloc.n; i++) {
    uint64_t a0 = alloc.off[i], a1 = a0 + alloc.len[i];
    bool zero = alloc.flags[i] & LIBNBD_STATE_ZERO;
    if (!d->bitmap) {
      if (!zero || backing)
        mark(map, off, end, d->cs, a0, a1, zero);
      continue;
    }
    /* The dirty extents that overlap [a0, a1). */
    while (k < dirty.n && dirty.off[k] + dirty.len[k] <= a0)
      k++;
    for (size_t j = k; j < dirty.n && dirty.off[j] < a1; j++) {
      if (!(dirty.flags[j] & 1))
        continue;
      uint64_t s0 = dirty.off[j] > a0 ? dirty.off[j] : a0;
      uint64_t s1 = dirty.off[j] + dirty.len[j] < a1 ? dirty.off[j] + dirty.len[j] : a1;
      mark(map, off, end, d->cs, s0, s1, zero);
    }
  }
  uint64_t counted = 0;
  for (size_t c = 0; r == 0 && c < n && !p->stop;) {
    size_t c1 = c + 1;
    while (c1 < n && map[c1] == map[c])
      c1++;
    uint64_t s0 = off + c * d->cs, s1 = off + c1 * d->cs < end ? off + c1 * d->cs : end;
    if (map[c] == C_DATA)
      r = copy_data(p, d, src, dst, buf, s0, s1 - s0, &counted);
    else if (map[c] == C_ZERO) {
      r = put_zeros(p, d, dst, s0, s1 - s0);
      p->done += s1 - s0;
      counted += s1 - s0;
    }
    c = c1;
  }
  /* A full's progress is the whole window: holes are done too. */
  if (r == 0 && !d->bitmap && !p->stop)
    p->done += (end - off) - counted;
  if (r == 0 && !p->stop && d->w && vk_qcow2w_done(d->w, off, end) < 0) {
    fail(p, vk_xasprintf("disk %s: cannot write the target %s: %s", d->jd->target,
                         d->jd->file, strerror(errno)));
    r = -2;
  }
  free(map);
  extents_free(&alloc);
  extents_free(&dirty);
  return r;
}

/* A worker: its own connections; windows until the disk is done. */
static void *
worker(void *opaque)
{
  struct pull *p = opaque;
  struct pdisk *d = &p->d[p->disk];
  struct nbd_handle *src = nbd_create(), *dst = d->w ? NULL : nbd_create();
  char *buf = vk_xmalloc(REQUEST);
  const char *stage = "connect to libvirt's NBD export";
  bool ok = src && (d->w || dst) && connect_source(p, src, d->jd->target) == 0;
  if (ok && d->bitmap && nbd_can_meta_context(src, d->bitmap) != 1) {
    fail(p, vk_xasprintf("disk %s: libvirt's export has no dirty bitmap (%s)", d->jd->target,
                         d->bitmap));
    ok = false;
    stage = NULL;
  }
  if (ok && dst) {
    stage = "connect to qemu-storage-daemon's export of the target";
    ok = nbd_set_export_name(dst, d->jd->target) == 0 &&
         nbd_connect_unix(dst, p->qsd_sock) == 0;
  }
  stage = ok ? "copy" : stage;
  while (ok && !p->stop && !vk_stop_signal) {
    pthread_mutex_lock(&p->lock);
    uint64_t off = p->next;
    p->next += WINDOW;
    pthread_mutex_unlock(&p->lock);
    if (off >= d->size)
      break;
    uint64_t end = off + WINDOW > d->size ? d->size : off + WINDOW;
    int r = copy_window(p, d, src, dst, buf, off, end);
    if (r == -2)
      stage = NULL;
    ok = r == 0;
  }
  if (ok && dst && !p->stop && !vk_stop_signal) {
    stage = "flush the target";
    ok = nbd_flush(dst, 0) == 0;
  }
  if (!ok && stage)
    fail(p, vk_xasprintf("disk %s: cannot %s: %s", d->jd->target, stage, nbd_why()));
  if (src) {
    nbd_shutdown(src, 0);
    nbd_close(src);
  }
  if (dst) {
    nbd_shutdown(dst, 0);
    nbd_close(dst);
  }
  free(buf);
  pthread_mutex_lock(&p->lock);
  p->running--;
  pthread_cond_signal(&p->cond);
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

/* The export's size of disk I (it must be the target's). */
static int
disk_size(struct pull *p, size_t i)
{
  struct nbd_handle *h = nbd_create();
  int r = -1;
  p->disk = i;
  if (h && connect_source(p, h, p->d[i].jd->target) == 0) {
    int64_t sz = nbd_get_size(h);
    if (sz >= 0) {
      p->d[i].size = (uint64_t)sz;
      r = 0;
    }
  }
  if (r < 0)
    fail(p, vk_xasprintf("disk %s: cannot connect to libvirt's NBD export: %s",
                         p->d[i].jd->target, nbd_why()));
  else {
    uint64_t want = p->d[i].w ? vk_qcow2w_size(p->d[i].w) : p->d[i].jd->size;
    if (want && p->d[i].size != want) {
      fail(p, vk_xasprintf("disk %s: the export has %llu bytes, the target %llu",
                           p->d[i].jd->target, (unsigned long long)p->d[i].size,
                           (unsigned long long)want));
      r = -1;
    }
  }
  if (h) {
    nbd_shutdown(h, 0);
    nbd_close(h);
  }
  return r;
}

/* Copy disk I with the workers, reporting progress meanwhile. */
static void
copy_disk(struct vk_job *job, struct pull *p, size_t i, const struct vk_flow_cb *cb)
{
  pthread_t tid[WORKERS];
  int started = 0;
  p->disk = i;
  p->next = 0;
  p->running = 0;
  for (int w = 0; w < WORKERS; w++) {
    pthread_mutex_lock(&p->lock);
    p->running++;
    pthread_mutex_unlock(&p->lock);
    if (pthread_create(&tid[w], NULL, worker, p) != 0) {
      pthread_mutex_lock(&p->lock);
      p->running--;
      pthread_mutex_unlock(&p->lock);
      if (started == 0)
        fail(p, vk_xasprintf("cannot start a copying thread: %s", strerror(errno)));
      break;
    }
    started++;
  }
  bool aborted = false;
  pthread_mutex_lock(&p->lock);
  while (p->running > 0) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 250000000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&p->cond, &p->lock, &ts);
    pthread_mutex_unlock(&p->lock);
    vk_flow_progress(cb, p->done, p->total, now() - p->start, false);
    if ((vk_stop_signal || p->unquiesced) && !aborted) {
      p->stop = true;
      aborted = true;
    }
    pthread_mutex_lock(&p->lock);
  }
  pthread_mutex_unlock(&p->lock);
  for (int w = 0; w < started; w++)
    pthread_join(tid[w], NULL);
  struct pdisk *d = &p->d[i];
  CLEANUP_FREE char *err = NULL;
  if (d->w && !p->stop && !vk_stop_signal && !p->unquiesced &&
      vk_qcow2w_finish(d->w, &err) < 0)
    fail(p, vk_xasprintf("disk %s: cannot write the target: %s", d->jd->target, err));
}

/* End libvirt's job (a pull job ends when its client says so) and wait
 * until libvirt has cleaned it up (the scratch files, the socket).
 */
static void
end_job(struct vk_job *job, struct pull *p)
{
  if (!p->begun || p->ended)
    return;
  p->ended = true;
  vk_job_end_libvirt(job->spec.dom);
}

static int
pull_wait(struct vk_job *job, const struct vk_flow_cb *cb, struct vk_job_result *res)
{
  struct pull *p = job->priv;
  const struct vk_job_spec *s = &job->spec;
  memset(res, 0, sizeof *res);
  res->quiesced = p->quiesced;
  for (size_t i = 0; i < p->n && !p->stop; i++)
    if (disk_size(p, i) == 0)
      p->total += p->d[i].size;
  vk_test_hook("pull-begun");
  vk_debug("pull: begun and sized in %.3f s", now() - p->start);
  for (size_t i = 0; i < p->n && !p->stop && !vk_stop_signal && !p->unquiesced; i++) {
    copy_disk(job, p, i, cb);
    vk_debug("pull: disk %s copied at %.3f s", p->d[i].jd->target, now() - p->start);
  }
  vk_flow_progress(cb, 0, 0, now() - p->start, true);
  res->bytes = p->done;
  res->interrupted = vk_stop_signal != 0;
  bool alive = virDomainIsActive(s->dom) == 1;
  end_job(job, p);
  vk_debug("pull: libvirt's job ended at %.3f s", now() - p->start);
  char *error = p->error;
  p->error = NULL;
  if (!error && !res->interrupted && !p->unquiesced) {
    if (p->q && vk_qmp_stop(p->q, 30000) < 0)
      error = vk_xstrdup("qemu-storage-daemon did not quit cleanly");
    p->q = NULL;
    for (size_t i = 0; i < p->n; i++) {
      vk_qcow2w_close(p->d[i].w);
      p->d[i].w = NULL;
    }
    res->ok = error == NULL;
  }
  if (!res->ok && !alive) {
    free(error);
    error = vk_xstrdup("the domain stopped during the backup (QEMU exited)");
  }
  if (p->unquiesced && !res->interrupted) {
    free(error);
    error = vk_xstrdup("the guard thawed the guest's file systems before the backup started "
                       "(vckpt took longer than the quiesce timeout): not a quiesced backup");
  }
  if (!res->ok && !error)
    error = vk_xstrdup(res->interrupted ? "aborted" : "the backup job failed");
  res->error = error;
  res->seconds = now() - p->start;
  return 0;
}

static int
pull_abort(struct vk_job *job)
{
  struct pull *p = job->priv;
  if (p)
    p->stop = true;
  if (virDomainAbortJob(job->spec.dom) < 0) {
    vk_debug("abort: %s", vk_virt_last_message());
    return -1;
  }
  if (p)
    p->ended = true;
  return 0;
}

static void
pull_close(struct vk_job *job)
{
  struct pull *p = job->priv;
  if (!p)
    return;
  end_job(job, p);
  if (p->q)
    vk_qmp_stop(p->q, 10000);
  if (p->catching)
    vk_stop_catch_end();
  vk_private_tmp_remove(&p->tmp);
  if (p->basefd >= 0)
    close(p->basefd);
  for (size_t i = 0; i < p->n; i++) {
    free(p->d[i].bitmap);
    vk_qcow2w_close(p->d[i].w);
  }
  free(p->d);
  vk_strv_free(p->scratch);
  free(p->base);
  free(p->nbd_dir);
  free(p->sock);
  free(p->qsd_sock);
  free(p->error);
  pthread_mutex_destroy(&p->lock);
  pthread_cond_destroy(&p->cond);
  free(p);
  job->priv = NULL;
}

/* A pull job a killed run left: libvirt's job still exports the disks (the
 * daemon that wrote the targets died with vckpt).  It is ours when its
 * scratch files carry the token of FILES' run.
 */
static int
pull_reclaim(const struct vk_job_spec *spec, char *const *files, const struct vk_flow_cb *cb)
{
  if (!files || !files[0])
    return 0;
  CLEANUP_FREE char *running = virDomainBackupGetXMLDesc(spec->dom, 0);
  if (!running)
    return 0;
  CLEANUP_XMLDOC xmlDocPtr doc = xmlReadMemory(running, strlen(running), "backup", NULL,
                                               XML_PARSE_NONET | XML_PARSE_NOERROR |
                                               XML_PARSE_NOWARNING);
  if (!doc)
    return 0;
  CLEANUP_XPATHCTX xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  CLEANUP_XPATHOBJ xmlXPathObjectPtr scratch =
    vk_xpath_nodes(ctx, NULL, "/domainbackup[@mode='pull']/disks/disk/scratch");
  CLEANUP_FREE char *token = run_token(files[0]);
  CLEANUP_FREE char *mark = vk_xasprintf("/" SCRATCH_PREFIX "%s-", token);
  bool ours = false;
  for (int i = 0; i < vk_xpath_count(scratch) && !ours; i++) {
    CLEANUP_FREE char *file = vk_xpath_string(ctx, scratch->nodesetval->nodeTab[i], "@file");
    ours = file && strstr(file, mark);
  }
  if (!ours)
    return 0;
  vk_flow_message(cb, VK_MSG_WARNING,
                  "ending the pull backup job an interrupted vckpt run left behind");
  vk_job_end_libvirt(spec->dom);
  return 1;
}

const struct vk_job_ops vk_job_pull_ops = {
  .kind = "pull",
  .prepare = pull_prepare,
  .describe = pull_describe,
  .start = pull_start,
  .wait = pull_wait,
  .abort = pull_abort,
  .close = pull_close,
  .reclaim = pull_reclaim,
};
