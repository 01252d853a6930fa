/* A copy of a domain's repository into a restic repository through
 * lib/restic.c (vk_restic_copy), for the restic tests until `vckpt copy`
 * dispatches to it:
 *
 *   test-restic-copy REPO DOMAIN restic:REPOSITORY [PASSWORD-FILE]
 *
 * prints the new snapshot as vckpt copy --json would ({"snapshot",
 * "backup", "host", "files_new", "bytes_added", ...}) and exits with
 * vckpt's status (util.h).
 */
#include <config.h>

#include <stdio.h>

#include <json-c/json.h>

#include "restic.h"
#include "util.h"
#include "xml.h"

int
main(int argc, char **argv)
{
  vk_progname = "test-restic-copy";
  if (argc < 4 || argc > 5) {
    fprintf(stderr, "usage: %s REPO DOMAIN restic:REPOSITORY [PASSWORD-FILE]\n", argv[0]);
    return VK_EXIT_USAGE;
  }
  vk_xml_init();
  vk_set_context("copy %s", argv[2]);
  struct vk_restic_request req = {
    .where = argv[3], .password_file = argc == 5 ? argv[4] : NULL, .domain = argv[2],
  };
  struct vk_restic_copied c;
  if (vk_restic_copy(&req, argv[1], &c) < 0)
    return vk_exit_status();
  json_object *o = json_object_new_object();
  json_object_object_add(o, "snapshot", json_object_new_string(c.snap.id));
  json_object_object_add(o, "backup", json_object_new_string(c.snap.backup));
  json_object_object_add(o, "host", json_object_new_string(c.snap.host));
  json_object_object_add(o, "files_new", json_object_new_int64(c.files_new));
  json_object_object_add(o, "files_changed", json_object_new_int64(c.files_changed));
  json_object_object_add(o, "files_unmodified", json_object_new_int64(c.files_unmodified));
  json_object_object_add(o, "bytes_processed", json_object_new_int64(c.bytes_processed));
  json_object_object_add(o, "bytes_added", json_object_new_int64(c.bytes_added));
  printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
  json_object_put(o);
  vk_restic_copied_clear(&c);
  return fflush(stdout) == 0 && !ferror(stdout) ? 0 : VK_EXIT_FAILURE;
}
