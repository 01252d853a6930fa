/* vckpt - progress and messages of a flow (flow.h). */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "flow.h"
#include "util.h"

/* Report progress through CB, or as a line on a terminal (flow.h). */
void
vk_flow_progress(const struct vk_flow_cb *cb, uint64_t done, uint64_t total, double seconds,
                 bool finished)
{
  if (cb && cb->progress) {
    cb->progress(cb->opaque, done, total, seconds, finished);
    return;
  }
  if ((cb && cb->quiet) || !isatty(STDERR_FILENO))
    return;
  if (finished) {
    fputs("\r\033[K", stderr);
    return;
  }
  char a[32], b[32], r[32];
  vk_human_size(done, a, sizeof a);
  vk_human_size(total, b, sizeof b);
  vk_human_size(seconds > 0 ? done / seconds : 0, r, sizeof r);
  fprintf(stderr, "\r%3d%%  %s of %s  %s/s   ",
          total ? (int)(100.0 * done / total) : 0, a, b, r);
  fflush(stderr);
}

/* Pass a message on through CB, or as a warning (flow.h). */
void
vk_flow_message(const struct vk_flow_cb *cb, enum vk_msg_level level, const char *fmt, ...)
{
  char *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  va_end(ap);
  const char *text = msg ? msg : fmt;
  if (cb && cb->message)
    cb->message(cb->opaque, level, text);
  else if (level == VK_MSG_DEBUG)
    vk_debug("%s", text);
  else
    vk_warn("%s", text);
  free(msg);
}
