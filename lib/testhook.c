/* vckpt - test hooks (testhook.h). */
#include <config.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "testhook.h"
#include "util.h"

/* Stop or die at POINT when $VCKPT_TEST_HOOK names it (testhook.h). */
void
vk_test_hook(const char *point)
{
  const char *h = getenv("VCKPT_TEST_HOOK");
  if (!h)
    return;
  size_t len = strlen(point);
  if (strncmp(h, point, len) != 0)
    return;
  if (h[len] == '\0') {
    vk_debug("test hook %s: stopping until SIGCONT", point);
    raise(SIGSTOP);
  } else if (strcmp(h + len, ":kill") == 0)
    raise(SIGKILL);
}

/* Whether $VCKPT_TEST_HOOK is POINT:fault (testhook.h). */
bool
vk_test_fault(const char *point)
{
  const char *h = getenv("VCKPT_TEST_HOOK");
  size_t len = strlen(point);
  bool on = h && strncmp(h, point, len) == 0 && strcmp(h + len, ":fault") == 0;
  if (on)
    vk_debug("test hook %s: a fault is injected", point);
  return on;
}
