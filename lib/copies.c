/* vckpt - the copies record (copies.h). */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "copies.h"
#include "fileio.h"
#include "output.h"
#include "util.h"

/* The largest record read. */
#define COPIES_MAX (16 << 20)

/* A string member of O, or NULL. */
static const char *
member_string(json_object *o, const char *key)
{
  json_object *v = NULL;
  if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
    return NULL;
  return json_object_get_string(v);
}

/* The array of record REC, or NULL (warned when it is not one of ours). */
static json_object *
load_array(const struct vk_record *rec)
{
  struct stat st;
  int fd = vk_record_open_quiet(rec, &st);
  if (fd < 0) {
    if (errno != ENOENT)
      vk_warn("%s: %s: the copies recorded are ignored", rec->path, vk_open_error(errno, &st));
    return NULL;
  }
  close(fd);
  CLEANUP_FREE char *text = NULL;
  if (vk_record_read(rec, COPIES_MAX, 0, &text) < 0)
    return NULL;
  json_object *root = json_tokener_parse(text), *arr = NULL, *v = NULL;
  if (!root || !json_object_is_type(root, json_type_object) ||
      !json_object_object_get_ex(root, "version", &v) || json_object_get_int(v) != 1 ||
      !json_object_object_get_ex(root, "copies", &arr) ||
      !json_object_is_type(arr, json_type_array)) {
    vk_warn("%s: not a copies record of version 1: the copies recorded are ignored", rec->path);
    json_object_put(root);
    return NULL;
  }
  json_object_get(arr);
  json_object_put(root);
  return arr;
}

int
vk_copies_load(const struct vk_repo *repo, struct vk_copy_record **out, size_t *n)
{
  *out = NULL;
  *n = 0;
  struct vk_record rec;
  if (vk_repo_record_open(repo, VK_COPIES_FILE, false, &rec) < 0)
    return 0;
  json_object *arr = load_array(&rec);
  vk_record_close(&rec);
  if (!arr)
    return 0;
  size_t len = json_object_array_length(arr);
  *out = vk_xcalloc(len + 1, sizeof **out);
  for (size_t i = 0; i < len; i++) {
    json_object *e = json_object_array_get_idx(arr, i), *t = NULL;
    if (!json_object_is_type(e, json_type_object))
      continue;
    const char *backup = member_string(e, "backup"), *dest = member_string(e, "destination");
    const char *outcome = member_string(e, "outcome");
    if (!backup || !dest || !outcome || !json_object_object_get_ex(e, "time", &t) ||
        !json_object_is_type(t, json_type_int) ||
        (strcmp(outcome, "ok") != 0 && strcmp(outcome, "failed") != 0))
      continue;
    struct vk_copy_record *r = &(*out)[(*n)++];
    r->backup = vk_xstrdup(backup);
    r->destination = vk_xstrdup(dest);
    const char *m = member_string(e, "message");
    r->message = m ? vk_xstrdup(m) : NULL;
    r->time = json_object_get_int64(t);
    r->ok = strcmp(outcome, "ok") == 0;
  }
  json_object_put(arr);
  return 0;
}

void
vk_copies_add(const struct vk_repo *src, const char *dest, const char *backup, bool ok,
              const char *message)
{
  struct vk_record rec;
  if (vk_repo_record_open(src, VK_COPIES_FILE, true, &rec) < 0) {
    vk_warn("%s/%s: %s: the copy is not recorded", vk_repo_where(src), VK_COPIES_FILE,
            strerror(errno));
    return;
  }
  if (!vk_record_writable(&rec)) {
    vk_debug("%s: read-only: the copy is not recorded", rec.path);
    vk_record_close(&rec);
    return;
  }
  json_object *list = json_object_new_array();
  struct stat st;
  int fd = vk_record_open_quiet(&rec, &st);
  if (fd >= 0) {
    close(fd);
    CLEANUP_FREE char *text = NULL;
    json_object *root = NULL, *v = NULL, *arr = NULL;
    if (vk_record_read(&rec, COPIES_MAX, 0, &text) == 0 && (root = json_tokener_parse(text)) &&
        json_object_is_type(root, json_type_object) &&
        json_object_object_get_ex(root, "version", &v) && json_object_get_int(v) == 1 &&
        json_object_object_get_ex(root, "copies", &arr) &&
        json_object_is_type(arr, json_type_array)) {
      for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *e = json_object_array_get_idx(arr, i), *d = NULL;
        if (!json_object_is_type(e, json_type_object) ||
            (json_object_object_get_ex(e, "destination", &d) &&
             json_object_is_type(d, json_type_string) &&
             strcmp(json_object_get_string(d), dest) == 0))
          continue;
        json_object_array_add(list, json_object_get(e));
      }
    } else
      vk_warn("%s: not a copies record of version 1: it is replaced", rec.path);
    json_object_put(root);
  } else if (errno != ENOENT)
    vk_warn("%s: %s: it is replaced", rec.path, vk_open_error(errno, &st));
  json_object *e = json_object_new_object();
  json_object_object_add(e, "backup", vk_json_string(backup));
  json_object_object_add(e, "destination", vk_json_string(dest));
  json_object_object_add(e, "time", json_object_new_int64(time(NULL)));
  json_object_object_add(e, "outcome", json_object_new_string(ok ? "ok" : "failed"));
  json_object_object_add(e, "message", vk_json_string(ok ? NULL : message));
  json_object_array_add(list, e);
  json_object *root = json_object_new_object();
  json_object_object_add(root, "version", json_object_new_int(1));
  json_object_object_add(root, "copies", list);
  const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                    JSON_C_TO_STRING_NOSLASHESCAPE);
  CLEANUP_FREE char *line = vk_xasprintf("%s\n", text);
  if (vk_record_write(&rec, line) < 0)
    vk_warn("the copy is not recorded in %s", rec.path);
  json_object_put(root);
  vk_record_close(&rec);
}

void
vk_copy_records_free(struct vk_copy_record *r, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    free(r[i].backup);
    free(r[i].destination);
    free(r[i].message);
  }
  free(r);
}
