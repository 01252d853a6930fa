/* vckpt - config check: validate the policy file (lib/policy.h). */
#include <config.h>

#include <stdio.h>

#include "policy.h"
#include "vckpt.h"

static int
cmd_config_check(struct cmd_ctx *ctx, int argc, const char **argv)
{
  bool named;
  const char *path = vk_policy_path(argc > 0 ? argv[0] : cmd_policy_file(), &named);
  vk_set_context("config check");
  struct vk_policy_file *cfg = NULL;
  if (vk_policy_load(argc > 0 ? argv[0] : cmd_policy_file(), &cfg) < 0)
    return -1;
  unsigned n = vk_policy_sections(cfg), nh = vk_policy_hosts(cfg);
  if (vk_json) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "file", vk_json_string(path));
    json_object_object_add(o, "exists", json_object_new_boolean(cfg != NULL));
    json_object_object_add(o, "domain_sections", json_object_new_int64(n));
    json_object *hosts = json_object_new_array();
    for (unsigned i = 0; i < nh; i++) {
      struct vk_policy_host h;
      vk_policy_host(cfg, i, &h);
      json_object *jh = json_object_new_object();
      json_object_object_add(jh, "name", vk_json_string(h.name));
      json_object_object_add(jh, "uri", vk_json_string(h.uri));
      json_object_object_add(jh, "jobs", h.jobs ? json_object_new_int(h.jobs) : NULL);
      json_object_array_add(hosts, jh);
    }
    json_object_object_add(o, "hosts", hosts);
    vk_out_json(o);
  } else if (!vk_quiet) {
    if (cfg && nh)
      vk_printf("%s: valid, %u domain section%s, %u host%s\n", path, n, n == 1 ? "" : "s", nh,
                nh == 1 ? "" : "s");
    else if (cfg)
      vk_printf("%s: valid, %u domain section%s\n", path, n, n == 1 ? "" : "s");
    else
      vk_printf("%s: no policy file (every setting has its default)\n", path);
  }
  vk_policy_file_free(cfg);
  return 0;
}

const struct cmd_entry cmd_config_check_entry = {
  .name = "config check",
  .args = "[FILE]",
  .summary = "Check the policy file (default $VCKPT_CONFIG, else /etc/vckpt/vckpt.conf)",
  .min_args = 0, .max_args = 1,
  .exec = cmd_config_check,
};
