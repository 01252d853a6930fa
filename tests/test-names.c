/* Unit test of name checking and list splitting: a table of cases. */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "util.h"

static const struct {
  const char *name;
  int ok;        /* vk_check_name */
  int lookup_ok; /* vk_check_lookup_name */
} names[] = {
  { "c1", 1, 1 },
  { "chk-3", 1, 1 },
  { "vckpt.2026-11-22T0300-full", 1, 1 },
  { "a+b", 0, 1 },   /* libvirt's checkpointName has no '+' */
  { "ab.", 1, 1 },
  { "_ab", 1, 1 },
  { "a:b", 0, 1 },   /* QEMU reads "a:b" in a backing name as a protocol */
  { "A_b", 1, 1 },
  { "", 0, 0 },
  { ".", 0, 1 },
  { "..", 0, 1 },
  { ".hidden", 0, 1 },
  { "-rf", 0, 1 },
  { "a/b", 0, 1 },
  { "../etc", 0, 1 },
  { "a b", 0, 1 },
  { "a<b", 0, 1 },
  { "a&b", 0, 1 },
  { "a'b", 0, 1 },
  { "a\"b", 0, 1 },
  { "a\\b", 0, 1 },
  { "caf\xc3\xa9", 0, 1 },
  { "tab\there", 0, 0 },
  { "new\nline", 0, 0 },
  { "del\x7f", 0, 0 },
  { "x123456789x123456789x123456789x123456789x123456789"
    "x123456789x123456789x123456789x123456789x12345678", 1, 1 },   /* 99 */
  { "x123456789x123456789x123456789x123456789x123456789"
    "x123456789x123456789x123456789x123456789x123456789x", 0, 1 }, /* 101 */
};

static const struct {
  const char *list;
  int ok;
  size_t n;
} lists[] = {
  { "vda", 1, 1 },
  { "vda,vdb", 1, 2 },
  { "vda,,vdb", 0, 0 },
  { ",vda", 0, 0 },
  { "vda,", 0, 0 },
  { "", 0, 0 },
  { "vda,vda", 0, 0 },
};

int
main(void)
{
  int errors = 0;

  vk_progname = "test-names";
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    int ok = vk_check_name("checkpoint", names[i].name) == 0;
    int lok = vk_check_lookup_name("checkpoint", names[i].name) == 0;
    if (ok != names[i].ok || lok != names[i].lookup_ok) {
      fprintf(stderr, "FAIL: name %zu '%s': check %d (want %d), lookup %d (want %d)\n",
              i, names[i].name, ok, names[i].ok, lok, names[i].lookup_ok);
      errors++;
    }
  }
  for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
    char **v = NULL;
    int ok = vk_split_list("disk", lists[i].list, &v) == 0;
    if (ok != lists[i].ok || (ok && vk_strv_len(v) != lists[i].n)) {
      fprintf(stderr, "FAIL: list '%s': ok %d (want %d), n %zu (want %zu)\n",
              lists[i].list, ok, lists[i].ok, ok ? vk_strv_len(v) : 0, lists[i].n);
      errors++;
    }
    vk_strv_free(v);
  }
  if (vk_exit_status() != VK_EXIT_USAGE) {
    fprintf(stderr, "FAIL: name errors must give the usage exit status\n");
    errors++;
  }
  /* Domain names (restore --define) may hold '+', which libvirt allows. */
  if (vk_check_name("domain", "web+db") != 0 || vk_check_name("disk", "vd+a") == 0) {
    fprintf(stderr, "FAIL: '+' must be allowed in domain names only\n");
    errors++;
  }
  printf("%s\n", errors ? "FAIL" : "PASS");
  return errors ? 1 : 0;
}
