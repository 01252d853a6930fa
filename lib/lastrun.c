/* vckpt - the last backup attempt's record (lastrun.h). */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "fileio.h"
#include "lastrun.h"
#include "output.h"
#include "util.h"
#include "virt.h"

/* The largest record read. */
#define LASTRUN_MAX (64 * 1024)

void
vk_lastrun_clear(struct vk_lastrun *r)
{
  free(r->message);
  free(r->backup);
  free(r->host);
  free(r->uri);
  memset(r, 0, sizeof *r);
}

/* A string member of O, copied, or NULL. */
static char *
member_string(json_object *o, const char *key)
{
  json_object *v = NULL;
  if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
    return NULL;
  return vk_xstrdup(json_object_get_string(v));
}

/* An integer member of O, or DEF. */
static long long
member_int(json_object *o, const char *key, long long def)
{
  json_object *v = NULL;
  if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
    return def;
  return json_object_get_int64(v);
}

/* Read record REC into OUT: 1, 0 when there is none (warned when it is
 * not one of ours).
 */
static int
load(const struct vk_record *rec, struct vk_lastrun *out)
{
  memset(out, 0, sizeof *out);
  struct stat st;
  int fd = vk_record_open_quiet(rec, &st);
  if (fd < 0) {
    if (errno != ENOENT)
      vk_warn("%s: %s: the last backup attempt recorded is ignored", rec->path,
              vk_open_error(errno, &st));
    return 0;
  }
  close(fd);
  CLEANUP_FREE char *text = NULL;
  if (vk_record_read(rec, LASTRUN_MAX, 0, &text) < 0)
    return 0;
  json_object *root = json_tokener_parse(text), *v = NULL;
  CLEANUP_FREE char *outcome = root && json_object_is_type(root, json_type_object)
                               ? member_string(root, "outcome") : NULL;
  if (!outcome || !json_object_object_get_ex(root, "version", &v) ||
      json_object_get_int(v) != 1 || member_int(root, "time", -1) < 0 ||
      (strcmp(outcome, "ok") != 0 && strcmp(outcome, "failed") != 0)) {
    vk_warn("%s: not a last-run record of version 1: it is ignored", rec->path);
    json_object_put(root);
    return 0;
  }
  out->time = member_int(root, "time", 0);
  out->ok = strcmp(outcome, "ok") == 0;
  long long e = member_int(root, "exit", out->ok ? 0 : 1);
  out->exit = e >= 0 && e <= 255 ? (int)e : 1;
  long long f = member_int(root, "failures", 0);
  out->failures = f >= 0 && f <= 1000000 ? (int)f : 0;
  out->message = member_string(root, "message");
  out->backup = member_string(root, "backup");
  out->host = member_string(root, "host");
  out->uri = member_string(root, "uri");
  json_object_put(root);
  return 1;
}

int
vk_lastrun_load(const struct vk_repo *repo, struct vk_lastrun *out)
{
  memset(out, 0, sizeof *out);
  struct vk_record rec;
  if (vk_repo_record_open(repo, VK_LASTRUN_FILE, false, &rec) < 0)
    return 0;
  int r = load(&rec, out);
  vk_record_close(&rec);
  return r;
}

/* The message of the failure: the unit's first error, and the first
 * error finding of the preflight's report REP (its code and message), if
 * any (malloc'd, or NULL).
 */
static char *
failure_message(const struct vk_report *rep)
{
  const char *err = vk_unit_message();
  const struct vk_finding *f = NULL;
  for (size_t i = 0; rep && i < rep->n && !f; i++)
    if (rep->f[i].severity == VK_SEV_ERROR)
      f = &rep->f[i];
  if (!f)
    return err ? vk_xstrdup(err) : NULL;
  CLEANUP_FREE char *what = vk_printable_text(f->message ? f->message : "");
  return vk_xasprintf("%s%s%s: %s", err ? err : "", err ? "; " : "", f->code, what);
}

void
vk_lastrun_record(virConnectPtr conn, const char *repo_dir, const char *domain,
                  const char *backup_id, const struct vk_report *rep)
{
  struct vk_record rec;
  if (vk_record_open_domain(repo_dir, domain, VK_LASTRUN_FILE, true, &rec) < 0) {
    vk_debug("the outcome is not recorded: %s/%s: %s", repo_dir, domain, strerror(errno));
    return;
  }
  /* The attempts failed in a row, from the record before (read under the
   * record lock: two runs of one domain end one after the other).
   */
  int failures = 0;
  if (!backup_id) {
    struct vk_lastrun old;
    failures = (load(&rec, &old) && !old.ok ? old.failures : 0) + 1;
    vk_lastrun_clear(&old);
  }
  enum vk_exit status = vk_unit_status();
  if (!backup_id && status == VK_EXIT_OK)
    status = VK_EXIT_FAILURE;           /* never recorded as a success */
  CLEANUP_FREE char *host = NULL, *uri = NULL;
  if (conn)
    vk_virt_host(conn, &host, &uri);
  json_object *o = json_object_new_object();
  json_object_object_add(o, "version", json_object_new_int(1));
  json_object_object_add(o, "time", json_object_new_int64(time(NULL)));
  json_object_object_add(o, "outcome", json_object_new_string(backup_id ? "ok" : "failed"));
  json_object_object_add(o, "exit", json_object_new_int(backup_id ? 0 : (int)status));
  CLEANUP_FREE char *message = backup_id ? NULL : failure_message(rep);
  json_object_object_add(o, "message", vk_json_string(message));
  json_object_object_add(o, "backup", vk_json_string(backup_id));
  json_object_object_add(o, "failures", json_object_new_int(failures));
  json_object_object_add(o, "host", vk_json_string(host));
  json_object_object_add(o, "uri", vk_json_string(uri));
  CLEANUP_FREE char *text = vk_xasprintf("%s\n", json_object_to_json_string_ext(
    o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(o);
  if (vk_record_write(&rec, text) < 0)
    vk_error(VK_EXIT_FAILURE, "the outcome of this backup is not recorded in %s (above): "
             "status shows the attempt before", rec.path);
  vk_record_close(&rec);
}
