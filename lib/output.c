/* vckpt - buffered standard output. */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "util.h"

bool vk_json;
bool vk_quiet;
static char *buf;
static size_t len, cap;
static json_object *json_doc;

/* Results of units of work (vk_out_unit_begin). */
struct unit_result {
  char *name;
  char *host;             /* vk_out_unit_host, or NULL */
  int status;
  char *text;
  size_t len;
  json_object *doc;
};
static struct unit_result *results;
static size_t nr_results;
static struct unit_result *open_unit;   /* the unit collecting, or NULL */

void
vk_printf(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if (len + n + 1 > cap) {
    cap = (len + n + 1) * 2;
    buf = vk_xrealloc(buf, cap);
  }
  va_start(ap, fmt);
  vsnprintf(buf + len, n + 1, fmt, ap);
  va_end(ap);
  len += n;
}

void
vk_out_json(json_object *obj)
{
  json_object_put(json_doc);
  json_doc = obj;
}

/* Move the pending output into unit U (text appended, JSON replaced). */
static void
keep(struct unit_result *u)
{
  if (len) {
    u->text = vk_xrealloc(u->text, u->len + len + 1);
    memcpy(u->text + u->len, buf, len);
    u->len += len;
    u->text[u->len] = '\0';
  }
  if (json_doc) {
    json_object_put(u->doc);
    u->doc = json_doc;
    json_doc = NULL;
  }
  vk_out_discard();
}

void
vk_out_unit_begin(const char *name)
{
  if (open_unit) {
    fprintf(stderr, "%s: internal error: output units do not nest\n", vk_progname);
    abort();
  }
  results = vk_xrealloc(results, (nr_results + 1) * sizeof *results);
  open_unit = &results[nr_results++];
  *open_unit = (struct unit_result) { .name = vk_xstrdup(name ? name : "") };
}

void
vk_out_unit_end(int status)
{
  if (!open_unit)
    return;
  if (status == 0)
    keep(open_unit);
  else
    vk_out_discard();
  open_unit->status = status;
  open_unit = NULL;
}

void
vk_out_unit_host(const char *host)
{
  if (open_unit && host) {
    free(open_unit->host);
    open_unit->host = vk_xstrdup(host);
  }
}

bool
vk_out_has_results(void)
{
  return nr_results > 0;
}

/* Write the results of the units, as text or as one JSON array. */
static void
write_results(void)
{
  json_object *arr = vk_json ? json_object_new_array() : NULL;
  for (size_t i = 0; i < nr_results; i++) {
    struct unit_result *u = &results[i];
    if (u->len)
      fwrite(u->text, 1, u->len, stdout);
    if (arr) {
      json_object *o = json_object_new_object();
      json_object_object_add(o, "unit", json_object_new_string(u->name));
      if (u->host)
        json_object_object_add(o, "host", json_object_new_string(u->host));
      json_object_object_add(o, "exit", json_object_new_int(u->status));
      json_object_object_add(o, "result", u->doc);
      u->doc = NULL;
      json_object_array_add(arr, o);
    }
    free(u->name);
    free(u->host);
    free(u->text);
    json_object_put(u->doc);
  }
  if (arr) {
    fputs(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                         JSON_C_TO_STRING_NOSLASHESCAPE), stdout);
    fputc('\n', stdout);
    json_object_put(arr);
  }
  free(results);
  results = NULL;
  nr_results = 0;
}

int
vk_out_flush(void)
{
  int r = 0;
  if (open_unit) {
    keep(open_unit);
    return 0;
  }
  if (nr_results)
    write_results();
  if (json_doc) {
    const char *s = json_object_to_json_string_ext(json_doc,
                      JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                      JSON_C_TO_STRING_NOSLASHESCAPE);
    fputs(s, stdout);
    fputc('\n', stdout);
  }
  if (len)
    fwrite(buf, 1, len, stdout);
  vk_out_discard();
  if (fflush(stdout) == EOF || ferror(stdout)) {
    vk_error(VK_EXIT_FAILURE, "write error on standard output: %s", strerror(errno));
    r = -1;
  }
  return r;
}

void
vk_out_discard(void)
{
  free(buf);
  buf = NULL;
  len = cap = 0;
  json_object_put(json_doc);
  json_doc = NULL;
}

json_object *
vk_json_string(const char *s)
{
  return s ? json_object_new_string(s) : NULL;
}

void
vk_cleanup_json(void *ptr)
{
  json_object_put(*(json_object **)ptr);
}
