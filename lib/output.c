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

int
vk_out_flush(void)
{
  int r = 0;
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
