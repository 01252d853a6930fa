/* vckpt - second copies in a restic repository (restic.h). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "access.h"
#include "checksum.h"
#include "copies.h"
#include "process.h"
#include "repo.h"
#include "restic.h"
#include "testhook.h"
#include "util.h"

extern char **environ;

/* The program and the package that has it. */
#define RESTIC "restic"
#define RESTIC_PACKAGE "restic"

/* The most of restic's standard output read into memory (a manifest, the
 * JSON of its snapshots), and of its standard error shown.
 */
#define OUT_MAX (VK_MANIFEST_MAX + 1024 * 1024)
#define ERR_SHOWN 2048

/* Seconds restic has to end after SIGINT before it is killed. */
#define STOP_GRACE_MS 30000

bool
vk_restic_is(const char *where)
{
  return where && strncmp(where, VK_RESTIC_PREFIX, strlen(VK_RESTIC_PREFIX)) == 0;
}

void
vk_restic_snapshot_clear(struct vk_restic_snapshot *s)
{
  free(s->id);
  free(s->time);
  free(s->backup);
  free(s->host);
  memset(s, 0, sizeof *s);
}

void
vk_restic_copied_clear(struct vk_restic_copied *c)
{
  vk_restic_snapshot_clear(&c->snap);
  memset(c, 0, sizeof *c);
}

void
vk_restic_prune_result_clear(struct vk_restic_prune_result *res)
{
  for (size_t i = 0; i < res->n; i++) {
    vk_restic_snapshot_clear(&res->snaps[i].snap);
    free(res->snaps[i].reasons);
  }
  free(res->snaps);
  memset(res, 0, sizeof *res);
}

/* ---- running restic ---- */

/* The restic program in PATH (malloc'd), or NULL: reported, naming the
 * package.
 */
static char *
find_restic(void)
{
  const char *path = getenv("PATH");
  CLEANUP_FREE char *copy = vk_xstrdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
  char *save = NULL;
  for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
    if (*dir != '/')
      continue;             /* a relative PATH entry depends on where vckpt runs */
    char *prog = vk_xasprintf("%s/%s", dir, RESTIC);
    struct stat st;
    if (stat(prog, &st) == 0 && S_ISREG(st.st_mode) && access(prog, X_OK) == 0)
      return prog;
    free(prog);
  }
  vk_error(VK_EXIT_NOT_FOUND, "restic is not installed (no %s in PATH): install the package "
           "%s (apt-get install %s)", RESTIC, RESTIC_PACKAGE, RESTIC_PACKAGE);
  return NULL;
}

/* The environment restic runs with: vckpt's, TZ=UTC0 instead of TZ. */
static char **
restic_env(void)
{
  char **env = NULL;
  for (char **e = environ; e && *e; e++)
    if (strncmp(*e, "TZ=", 3) != 0)
      vk_strv_push(&env, vk_xstrdup(*e));
  vk_strv_push(&env, vk_xstrdup("TZ=UTC0"));
  return env;
}

/* Check REQ before anything runs: restic installed, a repository named, a
 * password source (REQ's file or restic's environment), a domain name
 * that can be a tag, a snapshot id.  0, or -1 (reported).
 */
static int
check_request(const struct vk_restic_request *req)
{
  CLEANUP_FREE char *prog = find_restic();   /* first: a missing restic says so */
  if (!prog)
    return -1;
  const char *repo = req->where + strlen(VK_RESTIC_PREFIX);
  if (!*repo) {
    vk_error(VK_EXIT_USAGE, "'%s' names no restic repository: restic:REPOSITORY "
             "(restic:/srv/copies, restic:sftp:host:/srv/copies, restic:rest:https://...)",
             req->where);
    return -1;
  }
  static const char *const vars[] = { "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND",
                                      "RESTIC_PASSWORD" };
  bool given = req->password_file != NULL;
  for (size_t i = 0; !given && i < sizeof vars / sizeof vars[0]; i++) {
    const char *v = getenv(vars[i]);
    given = v && *v;
  }
  if (!given) {
    vk_error(VK_EXIT_USAGE, "no password for the restic repository: give --password-file FILE, "
             "or set RESTIC_PASSWORD_FILE or RESTIC_PASSWORD_COMMAND");
    return -1;
  }
  if (req->domain && strchr(req->domain, ',')) {
    vk_error(VK_EXIT_USAGE, "domain '%s': a name with a comma cannot be a restic tag",
             req->domain);
    return -1;
  }
  if (req->snapshot) {
    size_t len = strlen(req->snapshot);
    if (len < 1 || len > 64 || strspn(req->snapshot, "0123456789abcdef") != len) {
      vk_error(VK_EXIT_USAGE, "--snapshot '%s': a restic snapshot id is 1 to 64 hex digits",
               req->snapshot);
      return -1;
    }
  }
  return 0;
}

/* A restic run. */
struct run {
  pid_t pid;
  int pidfd;                  /* -1: none (an old kernel) */
  int errfd;                  /* its standard error (a memfd) */
  int outfd;                  /* its standard output when collected (a memfd), or -1 */
  int status;
  bool stopped;               /* a stop signal ended it */
};

/* Where restic's standard output goes (start): */
enum { OUT_COLLECT = -10 };   /* into memory (run_output) */

/* Start restic with the global options REQ gives, then ARGS
 * (NULL-terminated), in directory DIR (NULL: vckpt's), its standard
 * output on OUT (OUT_COLLECT, VK_CHILD_NULL or a descriptor), FD3 (or -1)
 * as its descriptor 3.  0, or -1 (reported).
 */
static int
start(const struct vk_restic_request *req, const char *dir, const char *const *args, int out,
      int fd3, struct run *p)
{
  *p = (struct run) { .pid = -1, .pidfd = -1, .errfd = -1, .outfd = -1 };
  if (vk_stop_signal) {
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d before restic %s ran",
             (int)vk_stop_signal, args[0]);
    return -1;
  }
  CLEANUP_FREE char *prog = find_restic();
  if (!prog)
    return -1;
  p->errfd = memfd_create("restic-stderr", MFD_CLOEXEC);
  if (p->errfd < 0 || (out == OUT_COLLECT &&
                       (p->outfd = memfd_create("restic-stdout", MFD_CLOEXEC)) < 0)) {
    vk_error(VK_EXIT_FAILURE, "memfd_create: %s", strerror(errno));
    return -1;
  }
  CLEANUP_FREE char *repo = vk_xasprintf("--repo=%s", req->where + strlen(VK_RESTIC_PREFIX));
  CLEANUP_FREE char *pw = req->password_file
    ? vk_xasprintf("--password-file=%s", req->password_file) : NULL;
  const char *argv[64];
  size_t n = 0;
  argv[n++] = prog;
  argv[n++] = repo;
  if (pw)
    argv[n++] = pw;
  for (size_t i = 0; args[i]; i++) {
    if (n >= sizeof argv / sizeof argv[0] - 1) {
      vk_error(VK_EXIT_FAILURE, "restic %s: too many arguments", args[0]);
      return -1;
    }
    argv[n++] = args[i];
  }
  argv[n] = NULL;
  {
    CLEANUP_FREE char *line = vk_strv_join((char *const *)argv, " ");
    vk_debug("running %s%s%s", line, dir ? " in " : "", dir ? dir : "");
  }
  CLEANUP_STRV char **env = restic_env();
  struct vk_child_env ce = { .dir = dir, .env = env };
  int e = vk_process_start_in((char *const *)argv, out == OUT_COLLECT ? p->outfd : out,
                              p->errfd, fd3, VK_CHILD_BOUND, &ce, &p->pid);
  if (e) {
    vk_error(VK_EXIT_FAILURE, "cannot run %s: %s", prog, strerror(e));
    p->pid = -1;
    return -1;
  }
#ifdef SYS_pidfd_open
  p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
#endif
  return 0;
}

/* Wait for P to end; a stop signal sends it SIGINT (then, after a grace
 * time, SIGKILL).  0, or -1 (reported: waitpid failed).
 */
static int
wait_run(struct run *p)
{
  bool killed = false;
  for (;;) {
    int stopfd = p->stopped ? -1 : vk_stop_fd();
    struct pollfd pf[2] = { { .fd = p->pidfd, .events = POLLIN },
                            { .fd = stopfd, .events = POLLIN } };
    int timeout = p->pidfd < 0 ? 100 : p->stopped && !killed ? STOP_GRACE_MS : -1;
    int n = poll(pf, 2, timeout);
    if (n < 0 && errno != EINTR) {
      vk_error(VK_EXIT_FAILURE, "poll: %s", strerror(errno));
      return -1;
    }
    if (!p->stopped && vk_stop_signal) {
      p->stopped = true;
      kill(p->pid, SIGINT);     /* restic removes its lock and ends */
      continue;
    }
    if (n == 0 && p->pidfd >= 0 && p->stopped && !killed) {
      killed = true;
      kill(p->pid, SIGKILL);
      continue;
    }
    pid_t w = waitpid(p->pid, &p->status, p->pidfd < 0 || !(pf[0].revents & POLLIN) ? WNOHANG : 0);
    if (w == p->pid)
      break;
    if (w < 0 && errno != EINTR) {
      vk_error(VK_EXIT_FAILURE, "waitpid: %s", strerror(errno));
      return -1;
    }
  }
  p->pid = -1;
  return 0;
}

/* What restic wrote on FD (a memfd), at most MAX bytes from its end when
 * TAIL, else from its start (longer: NULL, *TOOBIG set); NUL-terminated,
 * its length in *LEN when LEN is not NULL.
 */
static char *
memfd_text(int fd, size_t max, bool tail, bool *toobig, size_t *len)
{
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0)
    return vk_xstrdup("");
  size_t size = st.st_size, off = 0;
  if (size > max) {
    if (!tail) {
      if (toobig)
        *toobig = true;
      return NULL;
    }
    off = size - max;
    size = max;
  }
  char *buf = vk_xmalloc(size + 1);
  size_t got = 0;
  while (got < size) {
    ssize_t r = pread(fd, buf + got, size - got, off + got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    got += r;
  }
  buf[got] = '\0';
  if (len)
    *len = got;
  return buf;
}

/* restic's standard error on one line, the end of it: its "Fatal:" lines
 * come last.
 */
static char *
run_stderr(const struct run *p)
{
  CLEANUP_FREE char *text = memfd_text(p->errfd, ERR_SHOWN, true, NULL, NULL);
  size_t len = strlen(text);
  while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' ' || text[len - 1] == '\r'))
    text[--len] = '\0';
  return vk_printable_text(text);
}

static void
run_close(struct run *p)
{
  if (p->pid > 0) {            /* an error path: it must not outlive us */
    kill(p->pid, SIGKILL);
    while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
      ;
  }
  if (p->pidfd >= 0)
    close(p->pidfd);
  if (p->errfd >= 0)
    close(p->errfd);
  if (p->outfd >= 0)
    close(p->outfd);
  *p = (struct run) { .pid = -1, .pidfd = -1, .errfd = -1, .outfd = -1 };
}

/* The exit status of vckpt for restic's failure: its exit code where
 * restic 0.17 and later have one, else its message (restic 0.14).
 */
static enum vk_exit
classify(const struct run *p, const char *msg)
{
  if (p->stopped || (WIFSIGNALED(p->status) && vk_stop_signal))
    return VK_EXIT_INTERRUPTED;
  int code = WIFEXITED(p->status) ? WEXITSTATUS(p->status) : -1;
  if (code == 12 || strstr(msg, "wrong password") || strstr(msg, "empty password"))
    return VK_EXIT_USAGE;
  if (code == 10 || strstr(msg, "Is there a repository at the following location?") ||
      strstr(msg, "no matching ID found") || strstr(msg, "not found in snapshot"))
    return VK_EXIT_NOT_FOUND;
  if (code == 11 || strstr(msg, "repository is already locked"))
    return VK_EXIT_BUSY;
  return VK_EXIT_FAILURE;
}

/* Report P's failure: restic WHAT, with its message. */
static void
report(const struct vk_restic_request *req, const struct run *p, const char *what)
{
  CLEANUP_FREE char *msg = run_stderr(p);
  enum vk_exit code = classify(p, msg);
  const char *where = req->where;
  if (code == VK_EXIT_INTERRUPTED)
    vk_error(code, "interrupted by signal %d while restic %s ran (%s)", (int)vk_stop_signal,
             what, where);
  else if (WIFSIGNALED(p->status))
    vk_error(code, "restic %s (%s) killed by signal %d%s%s", what, where,
             WTERMSIG(p->status), *msg ? ": " : "", msg);
  else if (code == VK_EXIT_USAGE)
    vk_error(code, "restic refused the password of %s (exit %d): %s; check --password-file "
             "or RESTIC_PASSWORD_FILE / RESTIC_PASSWORD_COMMAND", where,
             WEXITSTATUS(p->status), msg);
  else if (code == VK_EXIT_BUSY)
    vk_error(code, "restic %s: %s is locked by another restic (exit %d): %s", what, where,
             WEXITSTATUS(p->status), msg);
  else
    vk_error(code, "restic %s failed (%s, exit %d)%s%s", what, where, WEXITSTATUS(p->status),
             *msg ? ": " : "", msg);
}

/* Whether P ended well (exit 0). */
static bool
run_ok(const struct run *p)
{
  return !p->stopped && WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0;
}

/* Run restic ARGS (in DIR) to its end, its standard output into *OUT when
 * OUT is not NULL (text: output holding a NUL byte is refused).  0, or -1
 * (reported).
 */
static int
run(const struct vk_restic_request *req, const char *dir, const char *const *args, char **out)
{
  struct run p;
  int rc = -1;
  if (start(req, dir, args, out ? OUT_COLLECT : VK_CHILD_NULL, -1, &p) == 0 &&
      wait_run(&p) == 0) {
    if (!run_ok(&p)) {
      report(req, &p, args[0]);
    } else if (out) {
      bool toobig = false;
      size_t len = 0;
      *out = memfd_text(p.outfd, OUT_MAX, false, &toobig, &len);
      if (toobig) {
        vk_error(VK_EXIT_FAILURE, "restic %s (%s): its output is larger than %d bytes",
                 args[0], req->where, OUT_MAX);
      } else if (strlen(*out) != len) {
        vk_error(VK_EXIT_FAILURE, "restic %s (%s): its output holds a NUL byte, not text",
                 args[0], req->where);
        free(*out);
        *out = NULL;
      } else {
        rc = 0;
      }
    } else {
      rc = 0;
    }
  }
  run_close(&p);
  return rc;
}

/* ---- snapshots ---- */

/* A string member of O (malloc'd), or NULL. */
static char *
jstr(json_object *o, const char *key)
{
  json_object *v = NULL;
  if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
    return NULL;
  return vk_xstrdup(json_object_get_string(v));
}

/* Whether snapshot O has tag TAG; with PREFIX, the rest of the first tag
 * that starts with TAG (malloc'd) in *REST.
 */
static bool
has_tag(json_object *o, const char *tag, bool prefix, char **rest)
{
  json_object *tags = NULL;
  if (!json_object_object_get_ex(o, "tags", &tags) || !json_object_is_type(tags, json_type_array))
    return false;
  for (size_t i = 0; i < json_object_array_length(tags); i++) {
    const char *t = json_object_get_string(json_object_array_get_idx(tags, i));
    if (!t)
      continue;
    if (!prefix && strcmp(t, tag) == 0)
      return true;
    if (prefix && strncmp(t, tag, strlen(tag)) == 0) {
      *rest = vk_xstrdup(t + strlen(tag));
      return true;
    }
  }
  return false;
}

/* Fill S from restic's JSON of a snapshot. */
static void
snapshot_from_json(json_object *o, struct vk_restic_snapshot *s)
{
  s->id = jstr(o, "id");
  s->time = jstr(o, "time");
  s->host = jstr(o, "hostname");
  has_tag(o, "backup=", true, &s->backup);
}

/* The tag that marks DOMAIN's copies ("domain=NAME"). */
static char *
domain_tag(const char *domain)
{
  return vk_xasprintf("domain=%s", domain);
}

/* The snapshot REQ means: REQ->snapshot, which must hold a copy of
 * REQ->domain, else the newest copy of REQ->domain.  0, or -1 (reported).
 */
static int
find_snapshot(const struct vk_restic_request *req, struct vk_restic_snapshot *out)
{
  memset(out, 0, sizeof *out);
  CLEANUP_FREE char *tag = domain_tag(req->domain);
  CLEANUP_FREE char *filter = vk_xasprintf("--tag=vckpt,%s", tag);
  const char *args[] = { "snapshots", "--json", req->snapshot ? req->snapshot : filter, NULL };
  CLEANUP_FREE char *text = NULL;
  if (run(req, NULL, args, &text) < 0)
    return -1;
  CLEANUP_JSON json_object *arr = json_tokener_parse(text);
  if (!arr || !json_object_is_type(arr, json_type_array)) {
    vk_error(VK_EXIT_FAILURE, "restic snapshots (%s): not the JSON list expected", req->where);
    return -1;
  }
  size_t n = json_object_array_length(arr);
  if (n == 0) {
    if (req->snapshot)
      vk_error(VK_EXIT_NOT_FOUND, "no snapshot %s in %s", req->snapshot, req->where);
    else
      vk_error(VK_EXIT_NOT_FOUND, "no copy of domain '%s' in %s (vckpt copy makes one)",
               req->domain, req->where);
    return -1;
  }
  if (req->snapshot && n > 1) {
    vk_error(VK_EXIT_USAGE, "--snapshot %s: %zu snapshots have ids starting so; give more "
             "digits", req->snapshot, n);
    return -1;
  }
  /* restic lists them oldest first. */
  json_object *o = json_object_array_get_idx(arr, n - 1);
  if (req->snapshot && (!has_tag(o, "vckpt", false, NULL) || !has_tag(o, tag, false, NULL))) {
    vk_error(VK_EXIT_NOT_FOUND, "snapshot %s in %s is no copy of domain '%s' (it has no tags "
             "vckpt and %s)", req->snapshot, req->where, req->domain, tag);
    return -1;
  }
  snapshot_from_json(o, out);
  if (!out->id) {
    vk_error(VK_EXIT_FAILURE, "restic snapshots (%s): a snapshot without an id", req->where);
    vk_restic_snapshot_clear(out);
    return -1;
  }
  vk_debug("using snapshot %s of %s (%s, backup %s)", out->id, req->where,
           out->time ? out->time : "?", out->backup ? out->backup : "?");
  return 0;
}

/* The name of file RELATIVE of snapshot S, for messages. */
static char *
snap_where(const struct vk_restic_request *req, const struct vk_restic_snapshot *s,
           const char *relative)
{
  return vk_xasprintf("%s snapshot %.8s:/%s", req->where, s->id, relative);
}

/* Read file RELATIVE of snapshot S (restic dump) into *TEXT.  0, or -1
 * (reported).
 */
static int
dump_text(const struct vk_restic_request *req, const struct vk_restic_snapshot *s,
          const char *relative, char **text)
{
  CLEANUP_FREE char *path = vk_xasprintf("/%s", relative);
  const char *args[] = { "dump", s->id, path, NULL };
  return run(req, NULL, args, text);
}

int
vk_restic_manifest(const struct vk_restic_request *req, struct vk_restic_snapshot *snap,
                   struct vk_manifest *m)
{
  memset(m, 0, sizeof *m);
  memset(snap, 0, sizeof *snap);
  if (check_request(req) < 0)
    return -1;
  vk_stop_catch_begin();
  CLEANUP_FREE char *text = NULL;
  int rc = -1;
  if (find_snapshot(req, snap) == 0 && dump_text(req, snap, "manifest.xml", &text) == 0) {
    CLEANUP_FREE char *where = snap_where(req, snap, "manifest.xml");
    rc = vk_manifest_from_text(text, where, req->domain, m);
  }
  vk_stop_catch_end();
  if (rc < 0) {
    vk_manifest_clear(m);
    vk_restic_snapshot_clear(snap);
  }
  return rc;
}

/* ---- copy ---- */

/* PATH with the characters of restic's patterns escaped, for an exclude
 * that names exactly it.
 */
static char *
pattern_quote(const char *path)
{
  char *q = vk_xmalloc(2 * strlen(path) + 1), *o = q;
  for (const char *s = path; *s; s++) {
    if (strchr("*?[]\\", *s))
      *o++ = '\\';
    *o++ = *s;
  }
  *o = '\0';
  return q;
}

/* A number member of O, or 0. */
static uint64_t
jnum(json_object *o, const char *key)
{
  json_object *v = NULL;
  return json_object_object_get_ex(o, key, &v) ? (uint64_t)json_object_get_int64(v) : 0;
}

/* Fill OUT from the summary line of restic backup --json. */
static int
copy_summary(const struct vk_restic_request *req, const char *text, struct vk_restic_copied *out)
{
  const char *line = strstr(text, "{\"message_type\":\"summary\"");
  CLEANUP_JSON json_object *o = line ? json_tokener_parse(line) : NULL;
  if (!o || !(out->snap.id = jstr(o, "snapshot_id"))) {
    vk_error(VK_EXIT_FAILURE, "restic backup (%s): no summary with the new snapshot's id in "
             "its output", req->where);
    return -1;
  }
  out->files_new = jnum(o, "files_new");
  out->files_changed = jnum(o, "files_changed");
  out->files_unmodified = jnum(o, "files_unmodified");
  out->bytes_processed = jnum(o, "total_bytes_processed");
  out->bytes_added = jnum(o, "data_added");
  return 0;
}

/* vk_restic_copy once the repository is open with its lock shared. */
static int
copy_locked(const struct vk_restic_request *req, struct vk_repo *r, struct vk_restic_copied *out)
{
  const struct vk_backup *newest = vk_repo_latest(r);
  if (!newest) {
    vk_error(VK_EXIT_NOT_FOUND, "%s has no backups to copy", vk_repo_where(r));
    return -1;
  }
  if (vk_repo_journal_present(r)) {
    vk_error(VK_EXIT_BUSY, "%s holds the journal of a run that was killed: the next backup or "
             "prune of %s finishes or rolls it back; copy after that", vk_repo_where(r),
             req->domain);
    return -1;
  }
  CLEANUP_FREE char *dir = vk_repo_target(r, NULL);
  CLEANUP_FREE char *quoted = pattern_quote(dir);
  CLEANUP_FREE char *tag = domain_tag(req->domain);
  CLEANUP_FREE char *tags = vk_xasprintf("--tag=vckpt,%s,backup=%s", tag, newest->id);
  char host[256] = "";
  if (gethostname(host, sizeof host - 1) < 0 || !*host)
    snprintf(host, sizeof host, "localhost");
  CLEANUP_FREE char *hostarg = vk_xasprintf("--host=%s", host);
  CLEANUP_STRV char **excl = NULL;
  const char *args[32];
  size_t n = 0;
  args[n++] = "backup";
  args[n++] = "--json";
  args[n++] = "--quiet";      /* no progress lines, the summary still */
  args[n++] = hostarg;
  args[n++] = tags;
  for (size_t i = 0; vk_repo_transient[i] && n < 28; i++) {
    vk_strv_push(&excl, vk_xasprintf("--exclude=%s/%s", quoted, vk_repo_transient[i]));
    args[n++] = excl[vk_strv_len(excl) - 1];
  }
  args[n++] = ".";            /* run in DIR: the snapshot's tree is the domain directory */
  args[n] = NULL;
  struct run p;
  int rc = start(req, dir, args, OUT_COLLECT, -1, &p) == 0 && wait_run(&p) == 0 ? 0 : -1;
  CLEANUP_FREE char *text = rc == 0 ? memfd_text(p.outfd, OUT_MAX, true, NULL, NULL) : NULL;
  if (rc == 0 && !run_ok(&p)) {
    /* Exit 3: a snapshot was saved without some files.  It is no copy of
     * the repository: forget it, so that no restore takes it.
     */
    struct vk_restic_copied part = { 0 };
    if (WIFEXITED(p.status) && WEXITSTATUS(p.status) == 3 &&
        copy_summary(req, text, &part) == 0) {
      const char *fargs[] = { "forget", part.snap.id, NULL };
      vk_warn("restic saved snapshot %s without some files; forgetting it", part.snap.id);
      run(req, NULL, fargs, NULL);
    }
    vk_restic_copied_clear(&part);
    report(req, &p, "backup");
    rc = -1;
  }
  run_close(&p);
  if (rc < 0 || copy_summary(req, text, out) < 0)
    return -1;
  out->snap.backup = vk_xstrdup(newest->id);
  out->snap.host = vk_xstrdup(host);
  return 0;
}

int
vk_restic_copy(const struct vk_restic_request *req, const char *repo_dir,
               struct vk_restic_copied *out)
{
  memset(out, 0, sizeof *out);
  if (check_request(req) < 0)
    return -1;
  vk_stop_catch_begin();
  struct vk_repo *r = NULL;
  int rc = -1;
  if (vk_repo_open_shared(repo_dir, req->domain, &r) == 0) {
    rc = copy_locked(req, r, out);
    /* status shows the last copy to each destination (copies.h). */
    const struct vk_backup *newest = vk_repo_latest(r);
    vk_copies_add(r, req->where, rc == 0 && out->snap.backup ? out->snap.backup
                  : newest ? newest->id : NULL, rc == 0,
                  rc == 0 ? NULL : vk_stop_signal ? "interrupted" : "the restic copy failed");
  }
  vk_repo_close(r);
  vk_stop_catch_end();
  if (rc < 0)
    vk_restic_copied_clear(out);
  return rc;
}

/* ---- restore ---- */

/* restic restore of PATTERN (a path in the snapshot) of S into TARGET;
 * FD3, the staging directory, is held by restic too, so that a sweep never
 * takes it while restic writes.
 */
static int
restore_part(const struct vk_restic_request *req, const struct vk_restic_snapshot *s,
             const char *target, const char *pattern, int fd3)
{
  CLEANUP_FREE char *t = vk_xasprintf("--target=%s", target);
  CLEANUP_FREE char *inc = vk_xasprintf("--include=/%s", pattern);
  const char *args[] = { "restore", s->id, t, inc, NULL };
  struct run p;
  int rc = -1;
  if (start(req, NULL, args, VK_CHILD_NULL, fd3, &p) == 0 && wait_run(&p) == 0) {
    if (run_ok(&p))
      rc = 0;
    else
      report(req, &p, "restore");
  }
  run_close(&p);
  return rc;
}

/* The chain directory of the backup AT in the staging repository. */
static int
staged_chain(const char *staging, const char *domain, const char *at, char **chain)
{
  struct vk_repo *r = NULL;
  const struct vk_backup *b = NULL;
  if (vk_repo_open_shared(staging, domain, &r) < 0)
    return -1;
  int rc = vk_repo_find_point(r, at, &b);
  if (rc == 0)
    *chain = vk_xstrdup(b->chain);
  vk_repo_close(r);
  return rc;
}

int
vk_restic_stage(const struct vk_restic_request *req, const char *dir, int dirfd, int holdfd,
                const char *const *ats, size_t n, struct vk_restic_snapshot *snap)
{
  memset(snap, 0, sizeof *snap);
  if (check_request(req) < 0)
    return -1;
  vk_stop_catch_begin();
  CLEANUP_FREE char *target = vk_xasprintf("%s/%s", dir, req->domain);
  int rc = find_snapshot(req, snap);
  if (rc == 0 && mkdirat(dirfd, req->domain, 0700) < 0) {
    vk_error(VK_EXIT_FAILURE, "cannot create %s: %s", target, strerror(errno));
    rc = -1;
  }
  if (rc == 0)
    rc = restore_part(req, snap, target, "manifest.xml", holdfd);
  /* Each chain once (the two backups of a diff may share one). */
  CLEANUP_STRV char **chains = NULL;
  for (size_t i = 0; rc == 0 && i < (n ? n : 1); i++) {
    char *chain = NULL;
    rc = staged_chain(dir, req->domain, n ? ats[i] : NULL, &chain);
    if (rc == 0 && !vk_strv_contains(chains, chain)) {
      rc = restore_part(req, snap, target, chain, holdfd);
      vk_strv_push(&chains, chain);
    } else
      free(chain);
  }
  vk_stop_catch_end();
  if (rc < 0)
    vk_restic_snapshot_clear(snap);
  return rc;
}

/* vk_restic_restore with the staging directory T made. */
static int
restore_staged(virConnectPtr conn, const struct vk_restic_request *req,
               const struct vk_restore_request *rr, const struct vk_private_tmp *t,
               const struct vk_restic_snapshot *s, char **backup_id, struct vk_restored **out,
               size_t *n)
{
  CLEANUP_FREE char *staging = vk_xasprintf("%s/%s", t->base, t->name);
  CLEANUP_FREE char *target = vk_xasprintf("%s/%s", staging, req->domain);
  CLEANUP_FREE char *chain = NULL;
  if (mkdirat(t->fd, req->domain, 0700) < 0) {
    vk_error(VK_EXIT_FAILURE, "cannot create %s: %s", target, strerror(errno));
    return -1;
  }
  if (restore_part(req, s, target, "manifest.xml", t->fd) < 0 ||
      staged_chain(staging, req->domain, rr->at, &chain) < 0 ||
      restore_part(req, s, target, chain, t->fd) < 0)
    return -1;
  vk_test_hook("restic-staged");
  struct vk_restore_request local = *rr;
  local.repo_dir = staging;
  return vk_restore(conn, &local, backup_id, out, n);
}

int
vk_restic_restore(virConnectPtr conn, const struct vk_restic_request *req,
                  const struct vk_restore_request *rr, struct vk_restic_snapshot *snap,
                  char **backup_id, struct vk_restored **out, size_t *n)
{
  memset(snap, 0, sizeof *snap);
  *out = NULL;
  *n = 0;
  if (check_request(req) < 0)
    return -1;
  vk_stop_catch_begin();
  CLEANUP_FREE char *abs = NULL;
  CLEANUP_CLOSE int tofd = -1;
  struct vk_private_tmp t = { .fd = -1 };
  int rc = -1;
  if (find_snapshot(req, snap) == 0 &&
      (tofd = vk_dir_open_trusted(rr->to, "--to", false, &abs)) >= 0 &&
      vk_private_tmp_make(&t, tofd, abs, ".vckpt-restic-", 0700, "restore --from") == 0) {
    rc = restore_staged(conn, req, rr, &t, snap, backup_id, out, n);
    vk_private_tmp_remove(&t);
  }
  vk_stop_catch_end();
  if (rc < 0)
    vk_restic_snapshot_clear(snap);
  return rc;
}

/* ---- verify ---- */

/* Dump file RELATIVE of S through the hasher (algorithm TYPE) into HEX.
 * 0; 1 when restic could not give it (*WHY: its message, and *MISSING
 * when the snapshot lacks the file); -1 when verify cannot go on
 * (reported: the password, an interruption...).
 */
static int
dump_sum(const struct vk_restic_request *req, const struct vk_restic_snapshot *s,
         const char *relative, enum vk_sum_type type, char hex[VK_SUM_HEX_MAX], char **why,
         bool *missing)
{
  *why = NULL;
  *missing = false;
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) < 0) {
    vk_error(VK_EXIT_FAILURE, "pipe: %s", strerror(errno));
    return -1;
  }
  CLEANUP_FREE char *path = vk_xasprintf("/%s", relative);
  const char *args[] = { "dump", s->id, path, NULL };
  struct run p;
  int st = start(req, NULL, args, pfd[1], -1, &p);
  close(pfd[1]);
  if (st < 0) {
    close(pfd[0]);
    run_close(&p);
    return -1;
  }
  struct vk_hash_job job = { .fd = pfd[0], .type = type };
  struct vk_hasher *h = NULL;
  bool hashed = vk_hasher_start(&job, 1, &h) == 0 && vk_hasher_wait(h, vk_stop_fd()) == 0;
  if (!hashed)
    kill(p.pid, SIGINT);      /* stopped (or no thread): restic ends, the pipe closes */
  if (h)
    vk_hasher_free(h);
  close(pfd[0]);
  int rc = -1;
  if (wait_run(&p) == 0) {
    CLEANUP_FREE char *msg = run_stderr(&p);
    enum vk_exit code = run_ok(&p) ? VK_EXIT_OK : classify(&p, msg);
    if (vk_stop_signal || (code != VK_EXIT_OK && code != VK_EXIT_FAILURE &&
                           code != VK_EXIT_NOT_FOUND)) {
      if (vk_stop_signal)
        p.stopped = true;
      report(req, &p, "dump");
    } else if (code != VK_EXIT_OK) {
      *missing = code == VK_EXIT_NOT_FOUND;
      *why = vk_xasprintf("restic dump: %s", *msg ? msg : "failed");
      rc = 1;
    } else if (!hashed) {
      vk_error(VK_EXIT_FAILURE, "%s: cannot start the hasher", relative);
    } else if (job.err) {
      *why = vk_xasprintf("read from restic dump: %s", strerror(job.err));
      rc = 1;
    } else {
      memcpy(hex, job.hex, VK_SUM_HEX_MAX);
      rc = 0;
    }
  }
  run_close(&p);
  return rc;
}

/* Verify one file of backup B (DISK: its target, or NULL for another
 * file) against its record, a checksum of algorithm *TYPE (TYPE NULL:
 * none, the file is read back only): file-missing, copy-unreadable
 * (restic could not give it: a damaged pack, the network),
 * checksum-mismatch.  -1 when verify cannot go on.
 */
static int
verify_file(const struct vk_restic_request *req, const struct vk_restic_snapshot *s,
            const struct vk_backup *b, const char *disk, const char *file,
            const enum vk_sum_type *type, const char *checksum, struct vk_report *rep)
{
  char hex[VK_SUM_HEX_MAX];
  CLEANUP_FREE char *why = NULL;
  bool missing;
  int r = dump_sum(req, s, file, type ? *type : VK_SUM_XXH3_128, hex, &why, &missing);
  if (r < 0)
    return -1;
  CLEANUP_FREE char *where = snap_where(req, s, file);
  if (r > 0)
    vk_report_add(rep, missing ? "file-missing" : "copy-unreadable", VK_SEV_ERROR, disk, where,
                  NULL, b->checkpoint, vk_xasprintf("backup %s: %s", b->id, why),
                  vk_xstrdup("copy again (vckpt copy) while the source repository has the "
                             "backup; check the restic repository (restic check --read-data)"));
  else if (!type)
    ;                         /* no record: read back whole is all */
  else if (!checksum || strcmp(hex, checksum) != 0)
    vk_report_add(rep, "checksum-mismatch", VK_SEV_ERROR, disk, where, NULL, b->checkpoint,
                  vk_xasprintf("backup %s: %s mismatch: %s, recorded %s: the copy differs "
                               "from the backup", b->id, vk_sum_name(*type), hex,
                               checksum ? checksum : "none"),
                  vk_xstrdup("copy again (vckpt copy) while the source repository has the "
                             "backup; check the restic repository (restic check --read-data)"));
  return 0;
}

/* restic check: its errors become the finding restic-check; -1 when it
 * could not run (reported).
 */
static int
check_repository(const struct vk_restic_request *req, struct vk_report *rep)
{
  const char *args[] = { "check", NULL };
  struct run p;
  int rc = -1;
  if (start(req, NULL, args, VK_CHILD_NULL, -1, &p) == 0 && wait_run(&p) == 0) {
    CLEANUP_FREE char *msg = run_stderr(&p);
    enum vk_exit code = run_ok(&p) ? VK_EXIT_OK : classify(&p, msg);
    if (code == VK_EXIT_OK) {
      rc = 0;
    } else if (code == VK_EXIT_FAILURE && !WIFSIGNALED(p.status)) {
      vk_report_add(rep, "restic-check", VK_SEV_ERROR, NULL, req->where, NULL, NULL,
                    vk_xasprintf("restic check failed (exit %d): %s", WEXITSTATUS(p.status),
                                 msg),
                    vk_xstrdup("see restic's documentation on a damaged repository (restic "
                               "check, repair); copy again to a sound one"));
      rc = 0;
    } else {
      report(req, &p, "check");
    }
  }
  run_close(&p);
  return rc;
}

/* vk_restic_verify once the manifest M of snapshot S is read. */
static int
verify_files(const struct vk_restic_request *req, const struct vk_restic_snapshot *s,
             const struct vk_manifest *m, struct vk_report *rep, size_t *nf)
{
  for (size_t i = 0; i < m->nr_backups; i++) {
    const struct vk_backup *b = &m->backups[i];
    for (size_t j = 0; j < b->nr_disks; j++) {
      const struct vk_backup_disk *d = &b->disks[j];
      if (verify_file(req, s, b, d->target, d->file, &d->checksum_type, d->checksum, rep) < 0)
        return -1;
      ++*nf;
    }
    const struct vk_state_file *st[] = { &b->nvram, &b->tpm };
    for (size_t k = 0; k < 2; k++)
      if (st[k]->file &&
          verify_file(req, s, b, NULL, st[k]->file, &st[k]->checksum_type, st[k]->checksum,
                      rep) < 0)
        return -1;
    /* The saved XML (restore --define, drills) has no checksum: it must
     * at least come back whole.
     */
    const char *xml[] = { b->domain_xml, b->checkpoint_xml, b->base.record };
    for (size_t k = 0; k < 3; k++)
      if (xml[k] && verify_file(req, s, b, NULL, xml[k], NULL, NULL, rep) < 0)
        return -1;
  }
  return 0;
}

int
vk_restic_verify(const struct vk_restic_request *req, struct vk_report *rep,
                 struct vk_restic_snapshot *snap, size_t *nb, size_t *nf)
{
  memset(rep, 0, sizeof *rep);
  memset(snap, 0, sizeof *snap);
  *nb = *nf = 0;
  if (check_request(req) < 0)
    return -1;
  vk_stop_catch_begin();
  struct vk_manifest m = { 0 };
  int rc = -1;
  if (check_repository(req, rep) == 0 && vk_restic_manifest(req, snap, &m) == 0) {
    *nb = m.nr_backups;
    rc = verify_files(req, snap, &m, rep, nf);
  }
  vk_manifest_clear(&m);
  vk_stop_catch_end();
  return rc;
}

/* ---- prune ---- */

/* Seconds since the epoch of restic's time T (RFC 3339, any offset), and
 * its nanoseconds in *NS: for ordering.
 */
static long long
parse_time(const char *t, long *ns)
{
  struct tm tm = { 0 };
  *ns = 0;
  if (!t)
    return 0;
  const char *p = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);
  if (!p)
    return 0;
  long long s = timegm(&tm);
  if (*p == '.') {
    long scale = 100000000;
    for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
      *ns += (*p - '0') * scale;
  }
  if ((*p == '+' || *p == '-') && strlen(p) >= 6) {
    int off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 + ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
    s -= *p == '+' ? off : -off;
  }
  return s;
}

/* Order of snapshots, oldest first. */
static int
cmp_kept(const void *a, const void *b)
{
  const struct vk_restic_kept *x = a, *y = b;
  long nx, ny;
  long long sx = parse_time(x->snap.time, &nx), sy = parse_time(y->snap.time, &ny);
  return sx != sy ? (sx < sy ? -1 : 1) : nx != ny ? (nx < ny ? -1 : 1) : 0;
}

/* The reasons restic gives for keeping snapshot O (matched by its time and
 * tree among REASONS), joined by ",".
 */
static char *
reasons_of(json_object *reasons, json_object *o)
{
  CLEANUP_FREE char *time = jstr(o, "time"), *tree = jstr(o, "tree");
  for (size_t i = 0; reasons && i < json_object_array_length(reasons); i++) {
    json_object *r = json_object_array_get_idx(reasons, i), *sn = NULL, *matches = NULL;
    if (!json_object_object_get_ex(r, "snapshot", &sn) ||
        !json_object_object_get_ex(r, "matches", &matches))
      continue;
    CLEANUP_FREE char *t = jstr(sn, "time"), *tr = jstr(sn, "tree");
    if (!t || !tr || !time || !tree || strcmp(t, time) != 0 || strcmp(tr, tree) != 0)
      continue;
    CLEANUP_STRV char **v = NULL;
    for (size_t k = 0; k < json_object_array_length(matches); k++)
      vk_strv_push(&v, vk_xstrdup(json_object_get_string(json_object_array_get_idx(matches, k))));
    return v ? vk_strv_join(v, ",") : vk_xstrdup("");
  }
  return vk_xstrdup("");
}

/* Add the snapshots of LIST (keep or remove) of restic forget's group G to RES. */
static void
add_group_list(json_object *g, const char *list, bool kept, struct vk_restic_prune_result *res)
{
  json_object *arr = NULL, *reasons = NULL;
  if (!json_object_object_get_ex(g, list, &arr) || !json_object_is_type(arr, json_type_array))
    return;
  json_object_object_get_ex(g, "reasons", &reasons);
  for (size_t i = 0; i < json_object_array_length(arr); i++) {
    json_object *o = json_object_array_get_idx(arr, i);
    res->snaps = vk_xrealloc(res->snaps, (res->n + 1) * sizeof *res->snaps);
    struct vk_restic_kept *k = &res->snaps[res->n++];
    memset(k, 0, sizeof *k);
    snapshot_from_json(o, &k->snap);
    k->kept = kept;
    k->reasons = kept ? reasons_of(reasons, o) : vk_xstrdup("");
    if (kept)
      res->kept++;
    else
      res->removed++;
  }
}

/* restic's --keep-within of duration D: "1y2m3d4h". */
static char *
within_arg(const struct vk_duration *d)
{
  return vk_xasprintf("--keep-within=%dy%dm%dd%dh", d->years, d->months, d->days, d->hours);
}

int
vk_restic_prune(const struct vk_restic_request *req, const struct vk_retention *pol,
                bool dry_run, struct vk_restic_prune_result *res)
{
  memset(res, 0, sizeof *res);
  if (check_request(req) < 0)
    return -1;
  CLEANUP_FREE char *tag = domain_tag(req->domain);
  CLEANUP_FREE char *filter = vk_xasprintf("--tag=vckpt,%s", tag);
  /* The newest is always kept, as vckpt's prune keeps its newest backup. */
  int last = pol->last > 1 ? pol->last : 1;
  const char *names[] = { "hourly", "daily", "weekly", "monthly", "yearly" };
  int nums[] = { pol->hourly, pol->daily, pol->weekly, pol->monthly, pol->yearly };
  CLEANUP_STRV char **own = NULL;
  const char *args[20];
  size_t n = 0;
  args[n++] = "forget";
  args[n++] = "--json";
  args[n++] = filter;
  args[n++] = "--group-by=";   /* one group: the domain's copies, whatever host or path */
  vk_strv_push(&own, vk_xasprintf("--keep-last=%d", last));
  args[n++] = own[0];
  for (size_t i = 0; i < 5; i++)
    if (nums[i] > 0) {
      vk_strv_push(&own, vk_xasprintf("--keep-%s=%d", names[i], nums[i]));
      args[n++] = own[vk_strv_len(own) - 1];
    }
  const struct vk_duration *w = &pol->within;
  if (w->years || w->months || w->days || w->hours) {
    vk_strv_push(&own, within_arg(w));
    args[n++] = own[vk_strv_len(own) - 1];
  }
  if (dry_run)
    args[n++] = "--dry-run";
  args[n] = NULL;

  vk_stop_catch_begin();
  CLEANUP_FREE char *text = NULL;
  int rc = run(req, NULL, args, &text);
  if (rc == 0) {
    CLEANUP_JSON json_object *groups = json_tokener_parse(text);
    if (!groups || !json_object_is_type(groups, json_type_array)) {
      vk_error(VK_EXIT_FAILURE, "restic forget (%s): not the JSON list expected", req->where);
      rc = -1;
    } else {
      for (size_t g = 0; g < json_object_array_length(groups); g++) {
        add_group_list(json_object_array_get_idx(groups, g), "keep", true, res);
        add_group_list(json_object_array_get_idx(groups, g), "remove", false, res);
      }
      if (res->n)
        qsort(res->snaps, res->n, sizeof *res->snaps, cmp_kept);
    }
  }
  if (rc == 0 && !dry_run && res->removed) {
    const char *pargs[] = { "prune", NULL };
    rc = run(req, NULL, pargs, NULL);
  }
  vk_stop_catch_end();
  return rc;
}
