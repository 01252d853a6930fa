/* Unit test of the policy file's look-up (lib/policy.c): which section a
 * domain gets (its exact name first, else the first matching pattern in
 * file order, else the top level), what a section inherits from the top
 * level, and that a retention block replaces the top level's whole.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"
#include "util.h"

static int errors;

#define CHECK(cond, ...)                                        \
  do {                                                          \
    if (!(cond)) {                                              \
      fprintf(stderr, "FAIL: %s:%d: ", __func__, __LINE__);     \
      fprintf(stderr, __VA_ARGS__);                             \
      fputc('\n', stderr);                                      \
      errors++;                                                 \
    }                                                           \
  } while (0)

static const char text[] =
  "repository = \"/srv/top\"\n"
  "quiesce = true\n"
  "jobs = 3\n"
  "exclude-disks = {\"vdz\"}\n"
  "retention { keep-daily = 7  keep-weekly = 4 }\n"
  "domain \"web*\" {\n"
  "  full-every-backups = 7\n"
  "  retention { keep-last = 2 }\n"
  "}\n"
  "domain \"w*\" { repository = \"/srv/w\" }\n"
  "domain \"web1\" {\n"
  "  quiesce = false\n"
  "  exclude-disks = {\"vdb\", \"vdc\"}\n"
  "  full-every-days = 30\n"
  "  max-age = \"2d\"\n"
  "}\n"
  "max-age = \"30h\"\n"
  "host hv1 { uri = \"qemu+tcp://10.0.0.2/system\"  jobs = 2 }\n"
  "host hv-2 { uri = \"qemu:///system\" }\n"
  "domain \"x\" { repository = \"/srv/w\" }\n";

static bool
same(const char *a, const char *b)
{
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int
main(void)
{
  vk_progname = "test-policy";
  const char *base = getenv("TMPDIR");
  char *path = vk_xasprintf("%s/test-policy.XXXXXX", base && *base ? base : "/tmp");
  int fd = mkstemp(path);
  if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) < 0) {
    perror(path);
    return 1;
  }
  struct vk_policy_file *cfg = NULL;
  CHECK(vk_policy_load(path, &cfg) == 0 && cfg, "load");
  CHECK(vk_policy_sections(cfg) == 4, "sections");
  CHECK(same(vk_policy_file_name(cfg), path), "file");

  struct vk_policy p;
  /* The exact name wins over patterns listed before it. */
  vk_policy_domain(cfg, "web1", &p);
  CHECK(same(p.section, "web1"), "web1: section %s", p.section);
  CHECK(same(p.repo, "/srv/top") && p.quiesce == 0 && p.jobs == 3, "web1: inherits");
  CHECK(p.full_every_days == 30 && p.full_every_backups == 0, "web1: schedule");
  CHECK(vk_strv_len(p.exclude_disks) == 2 && same(p.exclude_disks[1], "vdc"), "web1: excludes");
  CHECK(p.retention.daily == 7 && p.retention.weekly == 4 && p.retention.last == 0,
        "web1: the top level's retention");

  /* The first matching pattern, in the order of the file. */
  vk_policy_domain(cfg, "web2", &p);
  CHECK(same(p.section, "web*"), "web2: section %s", p.section);
  CHECK(p.retention.last == 2 && p.retention.daily == 0 && p.retention.weekly == 0,
        "web2: a retention block replaces the top level's whole");
  CHECK(p.full_every_backups == 7 && p.quiesce == 1, "web2: own and inherited");
  CHECK(vk_strv_len(p.exclude_disks) == 1 && same(p.exclude_disks[0], "vdz"), "web2: excludes");
  vk_policy_domain(cfg, "www", &p);
  CHECK(same(p.section, "w*") && same(p.repo, "/srv/w"), "www: section %s", p.section);

  /* No section: the top level. */
  vk_policy_domain(cfg, "db", &p);
  CHECK(!p.section && same(p.repo, "/srv/top") && p.retention.daily == 7, "db: top level");
  CHECK(same(p.max_age, "30h"), "db: the top level's max-age");
  vk_policy_domain(cfg, "web1", &p);
  CHECK(same(p.max_age, "2d"), "web1: its own max-age");

  /* The hosts, in the file's order. */
  CHECK(vk_policy_hosts(cfg) == 2, "hosts");
  struct vk_policy_host h;
  vk_policy_host(cfg, 0, &h);
  CHECK(same(h.name, "hv1") && same(h.uri, "qemu+tcp://10.0.0.2/system") && h.jobs == 2, "hv1");
  vk_policy_host(cfg, 1, &h);
  CHECK(same(h.name, "hv-2") && same(h.uri, "qemu:///system") && h.jobs == 0, "hv-2");

  /* The repositories: the top level's, then the sections', each once. */
  char **repos = vk_policy_repositories(cfg, "/fallback");
  CHECK(vk_strv_len(repos) == 2 && same(repos[0], "/srv/top") && same(repos[1], "/srv/w"),
        "repositories");
  vk_strv_free(repos);
  vk_policy_file_free(cfg);
  repos = vk_policy_repositories(NULL, "/fallback");
  CHECK(vk_strv_len(repos) == 1 && same(repos[0], "/fallback"), "repositories: none");
  vk_strv_free(repos);

  /* No file at all: an empty policy. */
  vk_policy_domain(NULL, "db", &p);
  CHECK(!p.section && !p.repo && p.quiesce == -1 && p.exclude_disks && !p.exclude_disks[0] &&
        !vk_retention_any(&p.retention), "no config");
  unlink(path);
  free(path);
  printf("test-policy: %d failures\n", errors);
  return errors ? 1 : 0;
}
