/* vckpt - restore drills (drill.h). */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libvirt/virterror.h>

#include "backup.h"
#include "drill.h"
#include "fileio.h"
#include "output.h"
#include "overlay.h"
#include "access.h"
#include "process.h"
#include "repo.h"
#include "restore.h"
#include "util.h"
#include "virt.h"
#include "xml.h"

#define DRILL_PREFIX "vckpt-drill-"
#define CONSOLE_NAME "console.log"

void
vk_drill_records_free(struct vk_drill_record *r, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    free(r[i].backup);
    free(r[i].method);
    free(r[i].message);
  }
  free(r);
}

/* Seconds since an arbitrary start, for durations. */
static double
now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the private directory ---- */

/* The drill's private directory (access.h): mode 0711 (QEMU's user
 * reaches the overlays in it, no one else lists or writes it), in BASE
 * (NULL: $TMPDIR, else /var/tmp), flock'd for as long as the drill runs.
 * PD->basefd and PD->base are the drill's, closed and freed after
 * private_dir_remove.
 */
static int
private_dir_make(struct vk_private_tmp *pd, const char *base)
{
  if (!base)
    base = getenv("TMPDIR");
  if (!base || !*base)
    base = "/var/tmp";
  /* The domain's overlays will be named by path in there. */
  char *abs = NULL;
  pd->basefd = vk_dir_open_trusted_base(base, "temporary directory", &abs);
  pd->base = abs;
  if (pd->basefd < 0)
    return -1;
  return vk_private_tmp_make(pd, pd->basefd, abs, DRILL_PREFIX, VK_DIR_MODE, "drill");
}

/* Remove the private directory and everything in it. */
static void
private_dir_remove(struct vk_private_tmp *pd)
{
  vk_private_tmp_remove(pd);
  if (pd->basefd >= 0)
    close(pd->basefd);
  free((char *)pd->base);
  pd->basefd = -1;
  pd->base = NULL;
}

/* ---- the record ---- */

/* Read the drills of record REC (repo.h, "Side records"): an array, or
 * NULL.
 */
static json_object *
load_array(const struct vk_record *rec)
{
  CLEANUP_FREE char *text = NULL;
  const char *path = rec->path;
  struct stat st;
  int fd = vk_record_open_quiet(rec, &st);
  if (fd < 0) {
    if (errno != ENOENT)
      vk_warn("%s: %s: the drills recorded are ignored", path, vk_open_error(errno, &st));
    return NULL;
  }
  close(fd);
  if (vk_record_read(rec, 16 << 20, 0, &text) < 0)
    return NULL;
  json_object *root = json_tokener_parse(text), *arr = NULL, *v = NULL;
  if (!root || !json_object_is_type(root, json_type_object) ||
      !json_object_object_get_ex(root, "version", &v) || json_object_get_int(v) != 1 ||
      !json_object_object_get_ex(root, "drills", &arr) ||
      !json_object_is_type(arr, json_type_array)) {
    vk_warn("%s: not a drills file of version 1: the drills recorded are ignored", path);
    json_object_put(root);
    return NULL;
  }
  json_object_get(arr);
  json_object_put(root);
  return arr;
}

/* A string member of O, or NULL. */
static const char *
member_string(json_object *o, const char *key)
{
  json_object *v = NULL;
  if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
    return NULL;
  return json_object_get_string(v);
}

int
vk_drill_load(const struct vk_repo *repo, struct vk_drill_record **out, size_t *n)
{
  *out = NULL;
  *n = 0;
  struct vk_record rec;
  if (vk_repo_record_open(repo, VK_DRILLS_FILE, false, &rec) < 0)
    return 0;
  json_object *arr = load_array(&rec);
  vk_record_close(&rec);
  if (!arr)
    return 0;
  size_t len = json_object_array_length(arr);
  *out = vk_xcalloc(len + 1, sizeof **out);
  for (size_t i = 0; i < len; i++) {
    json_object *e = json_object_array_get_idx(arr, i), *v = NULL;
    const char *id = json_object_is_type(e, json_type_object) ? member_string(e, "backup")
                                                               : NULL;
    const char *result = id ? member_string(e, "result") : NULL;
    if (!result)
      continue;
    struct vk_drill_record *r = &(*out)[(*n)++];
    r->backup = vk_xstrdup(id);
    r->ok = strcmp(result, "booted") == 0;
    const char *m = member_string(e, "method");
    r->method = vk_xstrdup(m ? m : "?");
    m = member_string(e, "message");
    r->message = m ? vk_xstrdup(m) : NULL;
    if (json_object_object_get_ex(e, "start", &v))
      r->start = json_object_get_int64(v);
    if (json_object_object_get_ex(e, "seconds", &v))
      r->seconds = json_object_get_double(v);
  }
  json_object_put(arr);
  return 0;
}

/* Record R as the last drill of its backup: under an exclusive flock of
 * the domain directory (drills of other backups may end at the same
 * time), read, replace the backup's entry, write crash-safely.  Entries
 * of backups the manifest no longer has are dropped.
 */
static void
record(struct vk_repo *repo, const struct vk_drill_record *r)
{
  const char *dir = vk_repo_where(repo);
  struct vk_record rec;
  if (vk_repo_record_open(repo, VK_DRILLS_FILE, false, &rec) < 0 || !vk_record_writable(&rec)) {
    vk_warn("%s: %s: the drill's result is not recorded", dir, strerror(errno));
    vk_record_close(&rec);
    return;
  }
  if (vk_record_lock(&rec) < 0) {
    vk_warn("%s: flock: %s: the drill's result is not recorded", dir, strerror(errno));
    vk_record_close(&rec);
    return;
  }
  json_object *old = load_array(&rec);
  json_object *arr = json_object_new_array();
  const struct vk_manifest *m = vk_repo_manifest(repo);
  for (size_t i = 0; old && i < json_object_array_length(old); i++) {
    json_object *e = json_object_array_get_idx(old, i);
    const char *id = json_object_is_type(e, json_type_object) ? member_string(e, "backup")
                                                               : NULL;
    if (!id || strcmp(id, r->backup) == 0 || !vk_manifest_find_id(m, m->nr_backups, id))
      continue;
    json_object_array_add(arr, json_object_get(e));
  }
  json_object_put(old);
  json_object *e = json_object_new_object();
  json_object_object_add(e, "backup", vk_json_string(r->backup));
  json_object_object_add(e, "result", json_object_new_string(r->ok ? "booted" : "failed"));
  json_object_object_add(e, "method", vk_json_string(r->method));
  json_object_object_add(e, "start", json_object_new_int64(r->start));
  json_object_object_add(e, "seconds", json_object_new_double(((long long)(r->seconds * 100 + 0.5)) / 100.0));
  json_object_object_add(e, "message", vk_json_string(r->message));
  json_object_array_add(arr, e);
  json_object *root = json_object_new_object();
  json_object_object_add(root, "version", json_object_new_int(1));
  json_object_object_add(root, "drills", arr);
  CLEANUP_FREE char *text = vk_xasprintf("%s\n", json_object_to_json_string_ext(
    root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(root);
  vk_record_write(&rec, text);
  vk_record_close(&rec);
}

/* ---- the drill ---- */

/* What a drill has under way, for the cleanup on every path. */
struct drill_run {
  struct vk_private_tmp pd;
  virDomainPtr dom;        /* the transient domain, or NULL */
  char *name;
  int console_fd;          /* the console log, once QEMU created it */
  char *console;           /* what was read of it (the marker search, the last line) */
  size_t console_len;
};

/* Read what the console log gained since the last call (at most 1 MiB kept). */
static void
read_console(struct drill_run *run)
{
  if (run->console_fd < 0) {
    struct stat st;
    run->console_fd = vk_open_regular_quiet(run->pd.fd, CONSOLE_NAME, VK_READ_NOFOLLOW, &st);
    if (run->console_fd < 0)
      return;
  }
  char buf[8192];
  ssize_t got;
  while ((got = read(run->console_fd, buf, sizeof buf)) > 0) {
    if (run->console_len + got > (1 << 20)) {
      size_t keep = (1 << 19);
      memmove(run->console, run->console + run->console_len - keep, keep);
      run->console_len = keep;
    }
    run->console = vk_xrealloc(run->console, run->console_len + got + 1);
    memcpy(run->console + run->console_len, buf, got);
    run->console_len += got;
    run->console[run->console_len] = '\0';
  }
}

/* The last non-empty line of the console, printable, or NULL. */
static char *
console_last_line(struct drill_run *run)
{
  if (!run->console_len)
    return NULL;
  size_t end = run->console_len;
  while (end > 0 && (run->console[end - 1] == '\n' || run->console[end - 1] == '\r' ||
                     run->console[end - 1] == ' '))
    end--;
  size_t start = end;
  while (start > 0 && run->console[start - 1] != '\n')
    start--;
  if (start == end)
    return NULL;
  if (end - start > 200)
    start = end - 200;
  CLEANUP_FREE char *line = vk_xmalloc(end - start + 1);
  memcpy(line, run->console + start, end - start);
  line[end - start] = '\0';
  return vk_printable_text(line);
}

/* Whether the console shows MARKER (NUL bytes in the log end the search
 * early; a marker is printable text).
 */
static bool
console_has(struct drill_run *run, const char *marker)
{
  read_console(run);
  return run->console && memmem(run->console, run->console_len, marker, strlen(marker));
}

/* Stop and remove everything the drill created. */
static void
drill_cleanup(struct drill_run *run)
{
  if (run->dom) {
    /* Transient: destroying it removes it. */
    if (virDomainDestroy(run->dom) < 0 && vk_virt_last_code() != VIR_ERR_NO_DOMAIN &&
        vk_virt_last_code() != VIR_ERR_OPERATION_INVALID)
      vk_warn("cannot destroy the drill's domain '%s': %s", run->name,
              vk_virt_last_message());
    virDomainFree(run->dom);
    run->dom = NULL;
  }
  if (run->console_fd >= 0)
    close(run->console_fd);
  run->console_fd = -1;
  private_dir_remove(&run->pd);
  free(run->console);
  run->console = NULL;
  free(run->name);
  run->name = NULL;
}

/* Whether the domain's XML has a guest agent channel. */
static bool
has_agent(xmlDocPtr doc)
{
  CLEANUP_XPATHCTX xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  CLEANUP_XPATHOBJ xmlXPathObjectPtr o = vk_xpath_nodes(
    ctx, NULL, "/domain/devices/channel/target[@type='virtio' and "
               "@name='org.qemu.guest_agent.0']");
  return vk_xpath_count(o) > 0;
}

/* Wait until the guest answers (agent, or MARKER on the console) or
 * TIMEOUT: 0 booted, 1 not (*WHY set), -1 interrupted (reported).
 */
static int
wait_boot(struct drill_run *run, const char *marker, int timeout, double t0, char **why)
{
  /* Each agent attempt is short, so a stop signal is seen soon. */
  if (!marker)
    virDomainAgentSetResponseTimeout(run->dom, 2, 0);
  for (;;) {
    if (vk_stop_signal) {
      vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d: the drill's domain and files "
               "were removed", (int)vk_stop_signal);
      return -1;
    }
    if (marker) {
      if (console_has(run, marker))
        return 0;
    } else {
      /* guest-get-time: an agent round trip, through libvirt proper. */
      long long sec;
      unsigned int nsec;
      if (virDomainGetTime(run->dom, &sec, &nsec, 0) == 0)
        return 0;
    }
    int state = VIR_DOMAIN_NOSTATE, reason;
    if (virDomainGetState(run->dom, &state, &reason, 0) < 0 || state == VIR_DOMAIN_SHUTOFF ||
        state == VIR_DOMAIN_CRASHED) {
      read_console(run);
      CLEANUP_FREE char *last = console_last_line(run);
      *why = vk_xasprintf("the guest stopped after %.1f s before %s%s%s%s", now_s() - t0,
                          marker ? "the console marker showed" : "its guest agent answered",
                          last ? " (last console line: \"" : "", last ? last : "",
                          last ? "\")" : "");
      return 1;
    }
    if (now_s() - t0 >= timeout) {
      read_console(run);
      CLEANUP_FREE char *last = console_last_line(run);
      *why = vk_xasprintf("%s within %d s%s%s%s",
                          marker ? "the console marker did not show"
                                 : "the guest agent did not answer", timeout,
                          last ? " (last console line: \"" : "", last ? last : "",
                          last ? "\")" : "");
      return 1;
    }
    struct timespec ts = { 0, 200 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
}

/* The drill of backup B: overlays, the domain, the wait. */
static int
drill_run(virConnectPtr conn, struct vk_repo *repo, const struct vk_backup *b,
          const struct vk_drill_request *req, struct drill_run *run,
          struct vk_drill_record *res, double *t0)
{
  CLEANUP_FREE char *why = NULL;
  int rc = vk_repo_check_chain(repo, b, &why);
  if (rc < 0)
    return -1;
  if (rc > 0) {
    vk_error(VK_EXIT_FAILURE, "%s: %s: backup %s cannot be booted", vk_repo_where(repo), why,
             b->id);
    return -1;
  }
  CLEANUP_XMLDOC xmlDocPtr doc = vk_backup_domain_doc(repo, b);
  if (!doc)
    return -1;
  if (!req->marker && !has_agent(doc)) {
    vk_error(VK_EXIT_USAGE, "the domain XML of backup %s has no guest agent channel "
             "(org.qemu.guest_agent.0): give --marker TEXT, a text the guest prints on "
             "its serial console once it is up", b->id);
    return -1;
  }
  res->method = vk_xstrdup(req->marker ? "marker" : "agent");
  if (private_dir_make(&run->pd, req->tmpdir) < 0)
    return -1;
  /* QEMU's user opens the overlays and, through them, the backup. */
  struct vk_qemu_user qu;
  vk_qemu_user(conn, NULL, &qu);
  CLEANUP_FREE char *chain = vk_repo_target(repo, b->chain);
  if (vk_qemu_check_reach(&qu, run->pd.base, "temporary directory") < 0 ||
      vk_qemu_check_reach(&qu, chain, "repository") < 0)
    return -1;
  CLEANUP_FREE char *dir = vk_xasprintf("%s/%s", run->pd.base, run->pd.name);
  struct vk_restored *disks = vk_xcalloc(b->nr_disks, sizeof *disks);
  size_t n = 0;
  int r = 0;
  for (size_t i = 0; i < b->nr_disks && r == 0; i++) {
    const struct vk_backup_disk *d = &b->disks[i];
    CLEANUP_FREE char *backing = vk_repo_target(repo, d->file);
    CLEANUP_FREE char *name = vk_xasprintf("%s.qcow2", d->target);
    disks[n].target = vk_xstrdup(d->target);
    disks[n].path = vk_xasprintf("%s/%s", dir, name);
    n++;
    r = vk_overlay_create(run->pd.fd, dir, name, backing, d->virtual_size);
  }
  char rnd[7];
  vk_random_hex6(rnd);
  run->name = vk_xasprintf("vckpt-drill-%s-%s", req->domain, rnd);
  CLEANUP_FREE char *console = vk_xasprintf("%s/%s", dir, CONSOLE_NAME);
  CLEANUP_FREE char *xml = NULL;
  if (r == 0) {
    struct vk_domain_rewrite rw = {
      .name = run->name, .disks = disks, .n = n, .isolated = true, .console = console,
      .quiet = true,
    };
    CLEANUP_FREE char *dpath = vk_repo_file_where(repo, b->domain_xml);
    xml = vk_domain_rewrite(doc, dpath, &rw);
  }
  vk_restored_free(disks, n);
  if (r < 0 || !xml)
    return -1;
  if (vk_stop_signal) {
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d", (int)vk_stop_signal);
    return -1;
  }
  vk_debug("drill: starting transient domain %s", run->name);
  *t0 = now_s();
  long long start = time(NULL);
  /* AUTODESTROY: if vckpt dies, libvirt ends the domain with the connection. */
  run->dom = virDomainCreateXML(conn, xml, VIR_DOMAIN_START_AUTODESTROY);
  if (!run->dom) {
    /* Not the backup's fault (the host could not start it): not recorded. */
    vk_virt_error("backup %s: cannot start the drill's domain", b->id);
    return -1;
  }
  res->start = start;
  CLEANUP_FREE char *fail = NULL;
  rc = wait_boot(run, req->marker, req->timeout, *t0, &fail);
  res->seconds = now_s() - *t0;
  if (rc < 0)
    return -1;
  if (rc > 0) {
    res->message = vk_xstrdup(fail);
    vk_error(VK_EXIT_FAILURE, "backup %s did not boot: %s", b->id, fail);
    return 1;
  }
  res->ok = true;
  return 0;
}

int
vk_drill(virConnectPtr conn, const struct vk_drill_request *req, struct vk_drill_record *out)
{
  memset(out, 0, sizeof *out);
  struct vk_repo *repo = NULL;
  /* From here a stop signal removes everything and records nothing. */
  vk_stop_catch_begin();
  if (vk_repo_open_shared(req->repo_dir, req->domain, &repo) < 0) {
    vk_stop_catch_end();
    return -1;
  }
  const struct vk_backup *b = NULL;
  if (vk_repo_find_point(repo, req->at, &b) < 0) {
    vk_repo_close(repo);
    vk_stop_catch_end();
    return -1;
  }
  out->backup = vk_xstrdup(b->id);
  struct drill_run run = { .pd = { .basefd = -1, .fd = -1 }, .console_fd = -1 };
  double t0 = 0;
  int rc = drill_run(conn, repo, b, req, &run, out, &t0);
  drill_cleanup(&run);
  /* The backing chain libvirt chowned to QEMU's user for the drill. */
  vk_repo_give_back(repo);
  /* A drill that started is recorded, booted or not; an interrupted one
   * or one that never started the domain is not.
   */
  if (rc >= 0 && out->method && out->start)
    record(repo, out);
  vk_repo_close(repo);
  vk_stop_catch_end();
  return rc == 0 ? 0 : -1;
}
