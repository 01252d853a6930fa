/* vckpt - where the progress and messages of a long operation (a flow:
 * backup, prune, repair, overlay and commit) go: the caller's callbacks,
 * or by default a progress line on a terminal and warnings on stderr.
 */
#ifndef VCKPT_FLOW_H
#define VCKPT_FLOW_H

#include <stdbool.h>
#include <stdint.h>

/* Where progress and messages of a flow go.  A NULL function (or a NULL
 * struct) means the default: a progress line on a terminal, messages as
 * warnings on stderr.
 */
enum vk_msg_level { VK_MSG_DEBUG, VK_MSG_INFO, VK_MSG_WARNING };
struct vk_flow_cb {
  /* DONE of TOTAL bytes after SECONDS; FINISHED once at the end (clear the line). */
  void (*progress)(void *opaque, uint64_t done, uint64_t total, double seconds, bool finished);
  void (*message)(void *opaque, enum vk_msg_level level, const char *text);
  void *opaque;
  bool quiet;   /* no progress line (default progress only) */
};
/* Report progress or a message through CB (or the defaults). */
void vk_flow_progress(const struct vk_flow_cb *cb, uint64_t done, uint64_t total,
                      double seconds, bool finished);
void vk_flow_message(const struct vk_flow_cb *cb, enum vk_msg_level level, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));

#endif
