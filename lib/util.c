/* vckpt - utilities: errors, memory, names. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

int vk_verbose;
const char *vk_progname = "vckpt";
static char *context;
static void (*message_hook)(bool error, const char *line);

/* Units of work (util.h): unit_stack[0] is the process itself,
 * unit_stack[depth] the unit now running.  Within a unit the first error's
 * code counts; a unit's status is folded into its parent's when it ends.
 */
struct unit {
  char *name;
  char *saved_context;     /* the message context when it began */
  bool reported;           /* an error of its own was reported */
  enum vk_exit code;       /* the first one's code */
  char *message;           /* and its message, on one line, without context */
  enum vk_exit children;   /* the worst status of the units it ran */
};
#define MAX_UNITS 8
static struct unit unit_stack[MAX_UNITS];
static size_t depth;

static char *emit(const char *kind, void (*hook)(bool, const char *), bool error,
                  const char *fmt, va_list ap)
  __attribute__((format(printf, 4, 0)));

/* The text of a message made safe and readable: line breaks (in the
 * messages of libvirt and qemu-img) start a continuation line indented by
 * INDENT, or are replaced by "; " when INDENT is NULL; tabs become spaces;
 * trailing blank lines go; other control characters become '?', so that
 * hostile names cannot forge output lines.
 */
static char *
readable(const char *s, const char *indent)
{
  const char *sep = indent ? indent : "; ";
  size_t breaks = 0;
  for (const char *p = s; *p; p++)
    breaks += *p == '\n';
  char *r = vk_xmalloc(strlen(s) + breaks * (strlen(sep) + 1) + 1), *q = r;
  for (const char *p = s; *p; p++) {
    unsigned char c = *p;
    if (c == '\r' && p[1] == '\n')
      continue;
    if (c == '\n') {
      /* Blank lines are dropped, and nothing is added at the end. */
      const char *n = p;
      while (*n == '\n' || *n == '\r' || *n == ' ' || *n == '\t')
        n++;
      if (!*n)
        break;
      while (q > r && (q[-1] == ' ' || (!indent && q[-1] == ';')))
        q--;
      if (indent)
        *q++ = '\n';
      q = stpcpy(q, sep);
      p = n - 1;
      continue;
    }
    *q++ = c == '\t' ? ' ' : c < 0x20 || c == 0x7f ? '?' : (char)c;
  }
  *q = '\0';
  return r;
}

/* The length of the UTF-8 sequence at S that is valid and not a C1
 * control (U+0080..U+009F), or 0.
 */
static size_t
utf8_printable_len(const unsigned char *s)
{
  size_t n;
  uint32_t c;
  if (s[0] >= 0xc2 && s[0] <= 0xdf)
    n = 2, c = s[0] & 0x1f;
  else if (s[0] >= 0xe0 && s[0] <= 0xef)
    n = 3, c = s[0] & 0x0f;
  else if (s[0] >= 0xf0 && s[0] <= 0xf4)
    n = 4, c = s[0] & 0x07;
  else
    return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    c = (c << 6) | (s[i] & 0x3f);
  }
  if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
      (c >= 0xd800 && c <= 0xdfff) || (c >= 0x80 && c <= 0x9f))
    return 0;
  return n;
}

char *
vk_escape_name(const char *s)
{
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  size_t len = strlen((const char *)p);
  char *r = vk_xmalloc(len * 4 + 1), *o = r;
  while (*p) {
    size_t n = *p >= 0x80 ? utf8_printable_len(p) : 0;
    if (n) {
      memcpy(o, p, n);
      o += n;
      p += n;
    } else if (*p == '\\') {
      *o++ = '\\';
      *o++ = '\\';
      p++;
    } else if (*p == '\n' || *p == '\t') {
      *o++ = '\\';
      *o++ = *p == '\n' ? 'n' : 't';
      p++;
    } else if (*p < 0x20 || *p >= 0x7f) {
      o += sprintf(o, "\\%03o", *p);
      p++;
    } else
      *o++ = (char)*p++;
  }
  *o = '\0';
  return r;
}

char *
vk_printable_text(const char *s)
{
  return readable(s ? s : "", NULL);
}

/* Print one message with the program name and context: continuation lines
 * of a multi-line message are indented, other control characters replaced.
 * Returns the message on one line, without its context (malloc'd).
 */
static char *emit(const char *kind, void (*hook)(bool, const char *), bool error,
                  const char *fmt, va_list ap)
  __attribute__((format(printf, 4, 0)));
static char *
emit(const char *kind, void (*hook)(bool, const char *), bool error, const char *fmt, va_list ap)
{
  char *msg = NULL;
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  char *text = readable(msg ? msg : fmt, "    ");
  /* The context names what the user gave (a domain name): as untrusted. */
  char *ctx = context ? readable(context, NULL) : NULL;
  fprintf(stderr, "%s: %s%s%s%s\n", vk_progname, kind, ctx ? ctx : "", ctx ? ": " : "", text);
  /* The log wants one line per event. */
  char *one = readable(msg ? msg : fmt, NULL);
  if (hook) {
    char *line = vk_xasprintf("%s%s%s%s", kind, ctx ? ctx : "", ctx ? ": " : "", one);
    hook(error, line);
    free(line);
  }
  free(ctx);
  free(text);
  free(msg);
  return one;
}

void
vk_error(enum vk_exit code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *one = emit("", message_hook, true, fmt, ap);
  va_end(ap);
  struct unit *u = &unit_stack[depth];
  if (!u->reported) {
    u->reported = true;
    u->code = code;
    u->message = one;
  } else
    free(one);
}

void
vk_set_message_hook(void (*hook)(bool error, const char *line))
{
  message_hook = hook;
}

void
vk_warn(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  free(emit("warning: ", message_hook, false, fmt, ap));
  va_end(ap);
}

void
vk_debug(const char *fmt, ...)
{
  va_list ap;
  if (!vk_verbose)
    return;
  va_start(ap, fmt);
  free(emit("debug: ", NULL, false, fmt, ap));
  va_end(ap);
}

void
vk_set_context(const char *fmt, ...)
{
  va_list ap;
  free(context);
  context = NULL;
  if (!fmt)
    return;
  va_start(ap, fmt);
  if (vasprintf(&context, fmt, ap) < 0)
    context = NULL;
  va_end(ap);
}

/* How serious an exit status is, for vk_exit_worse(): the order of the
 * man page (EXIT STATUS), 1 > 6 > 4 > 5 > 3 > 2 > 0.
 */
static int
exit_rank(enum vk_exit code)
{
  switch (code) {
  case VK_EXIT_OK: return 0;
  case VK_EXIT_USAGE: return 1;
  case VK_EXIT_NOT_FOUND: return 2;
  case VK_EXIT_BUSY: return 3;
  case VK_EXIT_PREFLIGHT: return 4;
  case VK_EXIT_INTERRUPTED: return 5;
  case VK_EXIT_FAILURE: return 6;
  }
  return 6;   /* an unknown code counts as a failure */
}

enum vk_exit
vk_exit_worse(enum vk_exit a, enum vk_exit b)
{
  return exit_rank(b) > exit_rank(a) ? b : a;
}

/* The status of unit U: its own first error, or the worst of its units. */
static enum vk_exit
unit_status(const struct unit *u)
{
  return vk_exit_worse(u->reported ? u->code : VK_EXIT_OK, u->children);
}

void
vk_unit_begin(const char *name)
{
  if (depth + 1 >= MAX_UNITS) {
    fprintf(stderr, "%s: internal error: units of work nested too deep\n", vk_progname);
    abort();
  }
  depth++;
  unit_stack[depth] = (struct unit) {
    .name = name ? vk_xstrdup(name) : NULL,
    .saved_context = context ? vk_xstrdup(context) : NULL,
  };
}

enum vk_exit
vk_unit_end(void)
{
  if (depth == 0) {
    fprintf(stderr, "%s: internal error: vk_unit_end without vk_unit_begin\n", vk_progname);
    abort();
  }
  struct unit *u = &unit_stack[depth];
  enum vk_exit st = unit_status(u);
  if (st != VK_EXIT_OK)
    vk_debug("%s%sexit status %d", u->name ? u->name : "", u->name ? ": " : "", (int)st);
  free(context);
  context = u->saved_context;
  free(u->name);
  free(u->message);
  memset(u, 0, sizeof *u);
  depth--;
  unit_stack[depth].children = vk_exit_worse(unit_stack[depth].children, st);
  return st;
}

bool
vk_unit_active(void)
{
  return depth > 0;
}

const char *
vk_unit_name(void)
{
  return unit_stack[depth].name;
}

enum vk_exit
vk_unit_status(void)
{
  return unit_status(&unit_stack[depth]);
}

const char *
vk_unit_message(void)
{
  return unit_stack[depth].message;
}

enum vk_exit
vk_run_status(void)
{
  enum vk_exit st = VK_EXIT_OK;
  for (size_t i = 0; i <= depth; i++)
    st = vk_exit_worse(st, unit_status(&unit_stack[i]));
  return st;
}

enum vk_exit
vk_exit_status(void)
{
  enum vk_exit st = vk_run_status();
  return st == VK_EXIT_OK ? VK_EXIT_FAILURE : st;
}

bool
vk_error_reported(void)
{
  return unit_stack[depth].reported || unit_stack[depth].children != VK_EXIT_OK;
}

void
vk_cleanup_free(void *ptr)
{
  free(*(void **)ptr);
}

void
vk_cleanup_strv(void *ptr)
{
  vk_strv_free(*(char ***)ptr);
}

void
vk_cleanup_close(void *ptr)
{
  int fd = *(int *)ptr;
  if (fd >= 0)
    close(fd);
}

static void
oom(void)
{
  fprintf(stderr, "%s: out of memory\n", vk_progname);
  abort();
}

void *
vk_xmalloc(size_t n)
{
  void *p = malloc(n ? n : 1);
  if (!p)
    oom();
  return p;
}

void *
vk_xcalloc(size_t n, size_t size)
{
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p)
    oom();
  return p;
}

void *
vk_xrealloc(void *p, size_t n)
{
  p = realloc(p, n ? n : 1);
  if (!p)
    oom();
  return p;
}

char *
vk_xstrdup(const char *s)
{
  char *r = strdup(s);
  if (!r)
    oom();
  return r;
}

char *
vk_xasprintf(const char *fmt, ...)
{
  va_list ap;
  char *r;
  va_start(ap, fmt);
  if (vasprintf(&r, fmt, ap) < 0)
    oom();
  va_end(ap);
  return r;
}

size_t
vk_strv_len(char *const *v)
{
  size_t n = 0;
  while (v && v[n])
    n++;
  return n;
}

void
vk_strv_free(char **v)
{
  for (size_t i = 0; v && v[i]; i++)
    free(v[i]);
  free(v);
}

bool
vk_strv_contains(char *const *v, const char *s)
{
  for (size_t i = 0; v && v[i]; i++)
    if (strcmp(v[i], s) == 0)
      return true;
  return false;
}

void
vk_strv_push(char ***v, char *s)
{
  size_t n = *v ? vk_strv_len(*v) : 0;
  *v = vk_xrealloc(*v, (n + 2) * sizeof **v);
  (*v)[n] = s;
  (*v)[n + 1] = NULL;
}

int
vk_split_list(const char *what, const char *list, char ***out)
{
  size_t n = 0;
  char **v = vk_xcalloc(strlen(list) + 2, sizeof *v);
  const char *p = list;

  for (;;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    if (len == 0) {
      vk_strv_free(v);
      vk_error(VK_EXIT_USAGE, "empty item in %s list '%s'", what, list);
      return -1;
    }
    char *item = strndup(p, len);
    if (!item)
      oom();
    if (vk_strv_contains(v, item)) {
      vk_error(VK_EXIT_USAGE, "%s '%s' given twice", what, item);
      free(item);
      vk_strv_free(v);
      return -1;
    }
    v[n++] = item;
    if (!comma)
      break;
    p = comma + 1;
  }
  *out = v;
  return 0;
}

char *
vk_strv_join(char *const *v, const char *sep)
{
  size_t len = 1;
  for (size_t i = 0; v && v[i]; i++)
    len += strlen(v[i]) + strlen(sep);
  char *r = vk_xmalloc(len);
  r[0] = '\0';
  for (size_t i = 0; v && v[i]; i++) {
    if (i)
      strcat(r, sep);
    strcat(r, v[i]);
  }
  return r;
}

#define VK_NAME_MAX 100

/* Checkpoint names follow libvirt's checkpointName pattern
 * ([a-zA-Z0-9_-][a-zA-Z0-9_.-]*, domaincheckpoint.rng): libvirt rejects
 * anything else with a schema error.  Disk targets are a subset of it.
 * Domain names (restore --define) may also hold '+', which libvirt allows.
 * On top of libvirt's rules we refuse a leading '-' (it would read as an
 * option to qemu-img and other tools) and names longer than VK_NAME_MAX
 * (they become parts of file names).
 */
int
vk_check_name(const char *what, const char *name)
{
  bool plus = strcmp(what, "domain") == 0;
  const char *allowed = plus ? "letters, digits, '.', '_', '-', '+'" : "letters, digits, '.', '_', '-'";
  if (vk_check_lookup_name(what, name) < 0)
    return -1;
  if (strlen(name) > VK_NAME_MAX) {
    vk_error(VK_EXIT_USAGE, "invalid %s name '%.20s...': longer than %d characters",
             what, name, VK_NAME_MAX);
    return -1;
  }
  if (name[0] == '.' || name[0] == '-') {
    vk_error(VK_EXIT_USAGE, "invalid %s name '%s': must not start with '%c'",
             what, name, name[0]);
    return -1;
  }
  for (const char *p = name; *p; p++) {
    unsigned char c = *p;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || (plus && c == '+'))
      continue;
    if (c >= 0x80)
      vk_error(VK_EXIT_USAGE, "invalid %s name '%s': non-ASCII characters are not allowed "
               "(use %s)", what, name, allowed);
    else
      vk_error(VK_EXIT_USAGE, "invalid %s name '%s': character '%c' is not allowed "
               "(use %s)", what, name, c, allowed);
    return -1;
  }
  return 0;
}

int
vk_check_lookup_name(const char *what, const char *name)
{
  if (!name || !*name) {
    vk_error(VK_EXIT_USAGE, "%s name is empty", what);
    return -1;
  }
  for (const char *p = name; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f) {
      vk_error(VK_EXIT_USAGE, "invalid %s name '%s': contains a control character",
               what, name);
      return -1;
    }
  return 0;
}

const char *
vk_file_type_name(unsigned mode)
{
  switch (mode & S_IFMT) {
  case S_IFREG: return "a regular file";
  case S_IFDIR: return "a directory";
  case S_IFIFO: return "a FIFO";
  case S_IFSOCK: return "a socket";
  case S_IFCHR: return "a character device";
  case S_IFBLK: return "a block device";
  case S_IFLNK: return "a symbolic link";
  default: return "an unknown file type";
  }
}

void
vk_human_size(unsigned long long bytes, char *buf, size_t len)
{
  static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
  double v = bytes;
  size_t u = 0;
  while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
    v /= 1024;
    u++;
  }
  if (u == 0)
    snprintf(buf, len, "%llu B", bytes);
  else
    snprintf(buf, len, "%.1f %s", v, units[u]);
}

void
vk_format_time(long long t, char *buf, size_t len)
{
  time_t tt = t;
  struct tm tm;
  if (!localtime_r(&tt, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
    snprintf(buf, len, "%lld", t);
}

void
vk_random_hex6(char buf[7])
{
  unsigned char r[3] = { 0 };
  if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long v = ts.tv_nsec / 1000 ^ (long)getpid();
    r[0] = v >> 16, r[1] = v >> 8, r[2] = v;
  }
  snprintf(buf, 7, "%02x%02x%02x", r[0], r[1], r[2]);
}

void
vk_utc_stamp(time_t t, char buf[VK_STAMP_LEN])
{
  struct tm tm;
  if (!gmtime_r(&t, &tm) || strftime(buf, VK_STAMP_LEN, "%Y%m%dT%H%M%SZ", &tm) == 0)
    abort();   /* a time_t gmtime_r cannot take: not from time() */
}

char *
vk_shell_quote(const char *s)
{
  bool safe = *s != '\0';
  for (const char *p = s; *p && safe; p++)
    safe = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-/:=@,", *p);
  if (safe)
    return vk_xstrdup(s);
  size_t n = 3;
  for (const char *p = s; *p; p++)
    n += *p == '\'' ? 4 : 1;
  char *r = vk_xmalloc(n), *q = r;
  *q++ = '\'';
  for (const char *p = s; *p; p++) {
    if (*p == '\'') {
      memcpy(q, "'\\''", 4);
      q += 4;
    } else
      *q++ = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
  }
  *q++ = '\'';
  *q = '\0';
  return r;
}

char *
vk_printable(const char *s)
{
  char *r = vk_xstrdup(s ? s : "");
  for (char *p = r; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      *p = '?';
  return r;
}
