/* vckpt - the operator's log: one timestamped line per event that matters
 * to whoever reads a night's runs (start, level chosen and why, bytes,
 * duration, failure with its cause, end with the exit status), appended to
 * --log-file FILE and/or sent to syslog(3) (LOG_DAEMON; journald picks it
 * up).  Errors and warnings reach it through the message hook of util.c.
 */
#ifndef VCKPT_LOG_H
#define VCKPT_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Start logging to FILE (appended; created 0600; a symbolic link or a
 * non-regular file is refused) and/or syslog.  Calling it again with the
 * same settings does nothing.  0, or -1 after reporting.
 */
int vk_log_open(const char *file, bool use_syslog);
/* The one entry point: log an event at PRIORITY (LOG_INFO, LOG_WARNING,
 * LOG_ERR), the message context of util.c in front.  Does nothing when no
 * log is open.
 */
void vk_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whether a log is open. */
bool vk_log_active(void);
/* Stop logging (closes the file). */
void vk_log_close(void);

#endif
