/* vckpt - a small QMP client for a qemu-storage-daemon started by vckpt. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "process.h"
#include "qmp.h"
#include "util.h"


struct vk_qmp {
  pid_t pid;              /* 0 once reaped */
  int status;             /* wait status once reaped */
  int fd;                 /* the monitor socket, -1 if not connected */
  int errfd;              /* the daemon's standard error (an unlinked file) */
  bool eof;               /* the daemon closed the monitor */
  char *dir, *sock;
  char *buf;              /* bytes read, not yet a whole line */
  size_t len, cap;
  json_object **ev;       /* queued events */
  size_t nev;
  unsigned next_id;
};

static long long
now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Reap the daemon if it has ended; true if it is gone. */
static bool
reaped(struct vk_qmp *q)
{
  if (q->pid == 0)
    return true;
  int st;
  pid_t r = waitpid(q->pid, &st, WNOHANG);
  if (r == q->pid || (r < 0 && errno == ECHILD)) {
    q->status = r == q->pid ? st : 0;
    q->pid = 0;
    return true;
  }
  return false;
}

/* The start of the daemon's standard error, one line, or "". */
static char *
stderr_text(struct vk_qmp *q)
{
  char b[512];
  ssize_t n = q->errfd >= 0 ? pread(q->errfd, b, sizeof b - 1, 0) : 0;
  b[n > 0 ? n : 0] = '\0';
  char *nl = strchr(b, '\n');
  if (nl)
    *nl = '\0';
  return vk_xstrdup(b);
}

char *
vk_qmp_exit_text(struct vk_qmp *q)
{
  if (!reaped(q))
    return NULL;
  CLEANUP_FREE char *e = stderr_text(q);
  CLEANUP_FREE char *how = WIFSIGNALED(q->status)
    ? vk_xasprintf("killed by signal %d", WTERMSIG(q->status))
    : vk_xasprintf("exited with status %d", WEXITSTATUS(q->status));
  return vk_xasprintf("qemu-storage-daemon %s%s%s", how, *e ? ": " : "", e);
}

/* A directory for the socket: $TMPDIR when absolute, short, and safe for
 * us (ours, and nobody else can rename what we make in it: not writable
 * by others, or sticky like /tmp), else /tmp.  Another user who could
 * swap the new directory would reach the monitor of a daemon that runs
 * as us and can open any file.
 */
static char *
private_dir(void)
{
  const char *t = getenv("TMPDIR");
  struct stat st;
  if (!t || t[0] != '/' || strlen(t) > 60 || stat(t, &st) < 0 || !S_ISDIR(st.st_mode) ||
      st.st_uid != geteuid() || ((st.st_mode & 022) && !(st.st_mode & S_ISVTX)) ||
      !vk_dir_is_trusted(t))   /* and every directory above it */
    t = "/tmp";
  char *dir = vk_xasprintf("%s/vckpt-qsd.XXXXXX", t);
  if (!mkdtemp(dir)) {
    vk_error(VK_EXIT_FAILURE, "cannot create a directory for qemu-storage-daemon's socket "
             "in %s: %s", t, strerror(errno));
    free(dir);
    return NULL;
  }
  return dir;
}

/* QEMU's option syntax: a comma in a value is written twice. */
static char *
opt_escape(const char *s)
{
  char *out = vk_xmalloc(2 * strlen(s) + 1), *p = out;
  for (; *s; s++) {
    *p++ = *s;
    if (*s == ',')
      *p++ = ',';
  }
  *p = '\0';
  return out;
}

/* Read more bytes into Q->buf, waiting until DEADLINE (ms).  1 if bytes
 * came, 0 on timeout or interruption, -1 at the end of the stream.
 */
static int
fill(struct vk_qmp *q, long long deadline)
{
  int left = (int)(deadline - now_ms());
  struct pollfd p = { .fd = q->fd, .events = POLLIN };
  int n = poll(&p, 1, left > 0 ? left : 0);
  if (n <= 0)
    return 0;
  if (q->cap - q->len < 4096) {
    q->cap = q->cap * 2 + 8192;
    q->buf = vk_xrealloc(q->buf, q->cap);
  }
  ssize_t r = read(q->fd, q->buf + q->len, q->cap - q->len - 1);
  if (r < 0 && (errno == EINTR || errno == EAGAIN))
    return 0;
  if (r <= 0) {
    q->eof = true;
    return -1;
  }
  q->len += r;
  return 1;
}

/* The next message, waiting until DEADLINE; NULL on timeout or EOF. */
static json_object *
read_message(struct vk_qmp *q, long long deadline)
{
  for (;;) {
    char *nl = q->buf ? memchr(q->buf, '\n', q->len) : NULL;
    if (nl) {
      *nl = '\0';
      json_object *m = json_tokener_parse(q->buf);
      size_t used = nl + 1 - q->buf;
      memmove(q->buf, nl + 1, q->len - used);
      q->len -= used;
      if (m && json_object_is_type(m, json_type_object))
        return m;
      json_object_put(m);   /* not a message: skip it */
      continue;
    }
    if (q->eof || fill(q, deadline) <= 0)
      return NULL;
  }
}

static const char *
str_field(json_object *o, const char *key)
{
  json_object *v = NULL;
  return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
    ? json_object_get_string(v) : NULL;
}

/* Why no answer came. */
static char *
no_answer(struct vk_qmp *q, const char *command)
{
  char *ex = q->eof ? vk_qmp_exit_text(q) : NULL;
  if (q->eof && !ex)
    return vk_xasprintf("qemu-storage-daemon closed its monitor during %s", command);
  if (ex)
    return ex;
  return vk_xasprintf("no answer from qemu-storage-daemon to %s in time", command);
}

int
vk_qmp_execute(struct vk_qmp *q, const char *command, json_object *args, int timeout_ms,
               json_object **ret, char **err)
{
  if (ret)
    *ret = NULL;
  *err = NULL;
  unsigned id = ++q->next_id;
  CLEANUP_JSON json_object *msg = json_object_new_object();
  json_object_object_add(msg, "execute", json_object_new_string(command));
  if (args)
    json_object_object_add(msg, "arguments", args);
  json_object_object_add(msg, "id", json_object_new_int64(id));
  CLEANUP_FREE char *line = vk_xasprintf("%s\n", json_object_to_json_string_ext(
                                           msg, JSON_C_TO_STRING_PLAIN));
  vk_debug("qmp: %s", json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN));
  size_t off = 0, len = strlen(line);
  while (off < len) {
    ssize_t w = q->eof ? -1 : send(q->fd, line + off, len - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0) {
      q->eof = true;
      *err = no_answer(q, command);
      return -1;
    }
    off += w;
  }
  long long deadline = now_ms() + timeout_ms;
  for (;;) {
    json_object *m = read_message(q, deadline);
    if (!m) {
      if (!q->eof && now_ms() < deadline)
        continue;   /* interrupted by a signal: a command is short, wait on */
      *err = no_answer(q, command);
      return -1;
    }
    json_object *v = NULL;
    if (str_field(m, "event")) {
      q->ev = vk_xrealloc(q->ev, (q->nev + 1) * sizeof *q->ev);
      q->ev[q->nev++] = m;
      continue;
    }
    if (!json_object_object_get_ex(m, "id", &v) || json_object_get_int64(v) != (int64_t)id) {
      json_object_put(m);
      continue;
    }
    if (json_object_object_get_ex(m, "return", &v)) {
      if (ret)
        *ret = json_object_get(v);
      json_object_put(m);
      return 0;
    }
    json_object *e = NULL;
    const char *desc = json_object_object_get_ex(m, "error", &e) ? str_field(e, "desc") : NULL;
    *err = vk_xstrdup(desc ? desc : "unknown error");
    vk_debug("qmp: %s: %s", command, *err);
    json_object_put(m);
    return -1;
  }
}

json_object *
vk_qmp_event(struct vk_qmp *q, int timeout_ms, bool *gone)
{
  *gone = false;
  if (q->nev > 0) {
    json_object *e = q->ev[0];
    memmove(q->ev, q->ev + 1, --q->nev * sizeof *q->ev);
    return e;
  }
  long long deadline = now_ms() + timeout_ms;
  for (;;) {
    json_object *m = read_message(q, deadline);
    if (!m) {
      *gone = q->eof;
      return NULL;
    }
    if (str_field(m, "event"))
      return m;
    json_object_put(m);   /* a late answer: nobody waits for it */
  }
}

/* Connect to the daemon's socket once it listens (up to 30 s). */
static int
connect_monitor(struct vk_qmp *q)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", q->sock);
  for (int i = 0; i < 3000; i++) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
      break;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
      q->fd = fd;
      return 0;
    }
    close(fd);
    if (reaped(q)) {
      CLEANUP_FREE char *ex = vk_qmp_exit_text(q);
      vk_error(VK_EXIT_FAILURE, "%s before its monitor was ready", ex);
      return -1;
    }
    usleep(10000);
  }
  vk_error(VK_EXIT_FAILURE, "cannot connect to qemu-storage-daemon's monitor %s: %s", q->sock,
           strerror(errno));
  return -1;
}

struct vk_qmp *
vk_qmp_start(const char *program)
{
  struct vk_qmp *q = vk_xcalloc(1, sizeof *q);
  q->fd = q->errfd = -1;
  if (!(q->dir = private_dir())) {
    free(q);
    return NULL;
  }
  q->sock = vk_xasprintf("%s/qmp.sock", q->dir);
  CLEANUP_FREE char *errpath = vk_xasprintf("%s/stderr", q->dir);
  q->errfd = open(errpath, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (q->errfd < 0) {
    vk_error(VK_EXIT_FAILURE, "cannot create %s: %s", errpath, strerror(errno));
    vk_qmp_stop(q, 0);
    return NULL;
  }
  unlink(errpath);
  CLEANUP_FREE char *esc = opt_escape(q->sock);
  CLEANUP_FREE char *chardev = vk_xasprintf("socket,id=vk-qmp,path=%s,server=on,wait=off", esc);
  char *argv[] = { (char *)program, (char *)"--chardev", chardev,
                   (char *)"--monitor", (char *)"chardev=vk-qmp", NULL };
  /* Standard error into ERRFD; its own process group (a terminal's Ctrl-C
   * goes to vckpt, which stops the job in order); SIGTERM if vckpt dies.
   */
  int e = vk_process_start_with(argv, VK_CHILD_NULL, q->errfd, -1, VK_CHILD_BOUND, &q->pid);
  if (e != 0) {
    q->pid = 0;
    vk_error(VK_EXIT_FAILURE, "cannot run %s: %s", program, strerror(e));
    vk_qmp_stop(q, 0);
    return NULL;
  }
  vk_debug("started %s (pid %d), monitor %s", program, (int)q->pid, q->sock);
  if (connect_monitor(q) < 0) {
    vk_qmp_stop(q, 1000);
    return NULL;
  }
  CLEANUP_JSON json_object *greeting = read_message(q, now_ms() + 30000);
  CLEANUP_FREE char *err = NULL;
  json_object *v = NULL;
  if (!greeting || !json_object_object_get_ex(greeting, "QMP", &v)) {
    CLEANUP_FREE char *why = no_answer(q, "the greeting");
    vk_error(VK_EXIT_FAILURE, "qemu-storage-daemon: %s", why);
    vk_qmp_stop(q, 1000);
    return NULL;
  }
  if (vk_qmp_execute(q, "qmp_capabilities", NULL, 30000, NULL, &err) < 0) {
    vk_error(VK_EXIT_FAILURE, "qemu-storage-daemon: qmp_capabilities: %s", err);
    vk_qmp_stop(q, 1000);
    return NULL;
  }
  return q;
}

/* Wait up to TIMEOUT_MS for the daemon to end; true once reaped. */
static bool
wait_end(struct vk_qmp *q, int timeout_ms)
{
  long long deadline = now_ms() + timeout_ms;
  while (!reaped(q)) {
    if (now_ms() >= deadline)
      return false;
    usleep(5000);
  }
  return true;
}

int
vk_qmp_stop(struct vk_qmp *q, int timeout_ms)
{
  if (!q)
    return 0;
  bool clean = false;
  if (q->pid > 0 && q->fd >= 0 && !q->eof) {
    CLEANUP_FREE char *err = NULL;
    vk_qmp_execute(q, "quit", NULL, timeout_ms, NULL, &err);
    clean = wait_end(q, timeout_ms);
  }
  if (q->pid > 0 && !wait_end(q, 0)) {
    kill(q->pid, SIGTERM);
    if (!wait_end(q, timeout_ms)) {
      kill(q->pid, SIGKILL);
      while (waitpid(q->pid, &q->status, 0) < 0 && errno == EINTR)
        ;
      q->pid = 0;
      clean = false;
    }
  }
  clean = clean && WIFEXITED(q->status) && WEXITSTATUS(q->status) == 0;
  if (q->fd >= 0)
    close(q->fd);
  if (q->errfd >= 0)
    close(q->errfd);
  if (q->sock)
    unlink(q->sock);
  if (q->dir)
    rmdir(q->dir);
  for (size_t i = 0; i < q->nev; i++)
    json_object_put(q->ev[i]);
  free(q->ev);
  free(q->buf);
  free(q->sock);
  free(q->dir);
  free(q);
  return clean ? 0 : -1;
}
