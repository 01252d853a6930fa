/* vckpt - libvirt checkpoints and incremental backups.
 * Utilities shared by the core library and the command handlers:
 * exit codes, error reporting, cleanup attributes, name checks.
 */
#ifndef VCKPT_UTIL_H
#define VCKPT_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

/* Documented exit codes (man/vckpt.pod, README.md).  Keep in step. */
enum vk_exit {
  VK_EXIT_OK = 0,          /* success; validate: backup would succeed */
  VK_EXIT_FAILURE = 1,     /* libvirt or operation failure, I/O error */
  VK_EXIT_USAGE = 2,       /* bad command line or invalid name */
  VK_EXIT_NOT_FOUND = 3,   /* domain, checkpoint, disk or file not found */
  VK_EXIT_PREFLIGHT = 4,   /* preflight validation refused the operation */
  VK_EXIT_BUSY = 5,        /* another job or vckpt run holds the domain */
  VK_EXIT_INTERRUPTED = 6, /* stopped by a stop signal (process.h), rolled back */
};

/* Report an error once, where it happens: "vckpt: CONTEXT: MESSAGE".
 * The error belongs to the unit of work running (below): the first error's
 * code becomes the unit's status.
 */
void vk_error(enum vk_exit code, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));
/* A function that also receives every error and warning, for the log
 * (log.h): ERROR tells which, LINE is the message on one line with its
 * context ("backup web1: disk vda: ...").  NULL: none.
 */
void vk_set_message_hook(void (*hook)(bool error, const char *line));
/* A warning on stderr that does not change the exit status. */
void vk_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An informational message on stderr, shown only with --verbose. */
void vk_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Set the prefix of later messages, e.g. "checkpoint create web1". */
void vk_set_context(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Units of work.  Errors belong to a unit of work: one command, or one
 * domain of a run over many domains in one process.  vk_unit_begin() starts
 * a unit with no error; vk_error() records the unit's first error code;
 * vk_error_reported() and vk_unit_status() see only the errors of the unit
 * running (and of the units it ran), so a failure in one domain is never
 * seen by the next.  vk_unit_end() returns the unit's status and folds it
 * into its parent's: a unit's status is its own first error's code, else the
 * worst status of the units it ran (vk_exit_worse).  Outside any unit,
 * errors belong to the process itself.  Units nest (main() runs a command as
 * one unit; a command over many domains runs one unit per domain inside
 * it); vk_unit_end() also restores the message context of vk_unit_begin().
 */
void vk_unit_begin(const char *name);
enum vk_exit vk_unit_end(void);
/* Whether a unit is running, and its name (NULL if none or unnamed). */
bool vk_unit_active(void);
const char *vk_unit_name(void);
/* The status of the unit running: VK_EXIT_OK, or as vk_unit_end(). */
enum vk_exit vk_unit_status(void);
/* The message of the unit's own first error, on one line and without the
 * message context, or NULL (none, or only the units it ran reported).
 */
const char *vk_unit_message(void);
/* The more serious of two exit statuses, in the documented order
 * (man/vckpt.pod, EXIT STATUS): 1 > 6 > 4 > 5 > 3 > 2 > 0.
 */
enum vk_exit vk_exit_worse(enum vk_exit a, enum vk_exit b);
/* The status of the whole run so far: the worst of every unit, or
 * VK_EXIT_OK when no error was reported anywhere.
 */
enum vk_exit vk_run_status(void);
/* The exit status after a failure: vk_run_status(), or VK_EXIT_FAILURE
 * when no error was reported.
 */
enum vk_exit vk_exit_status(void);
/* Whether the unit running (or a unit it ran) reported an error. */
bool vk_error_reported(void);
extern int vk_verbose;
extern const char *vk_progname;

/* Cleanup attributes (CLEANUP_FREE, ...): see cleanup.h. */
#include "cleanup.h"

/* Allocation that cannot fail (aborts with a message on ENOMEM). */
void *vk_xmalloc(size_t n);
void *vk_xcalloc(size_t n, size_t size);
void *vk_xrealloc(void *p, size_t n);
char *vk_xstrdup(const char *s);
char *vk_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* NULL-terminated string vectors. */
size_t vk_strv_len(char *const *v);
void vk_strv_free(char **v);
bool vk_strv_contains(char *const *v, const char *s);
/* Append S (taken over) to the NULL-terminated list *V (NULL: empty). */
void vk_strv_push(char ***v, char *s);
/* Split a comma list ("vda,vdb"); empty items are a usage error. */
int vk_split_list(const char *what, const char *list, char ***out);
/* Join a string vector with a separator into a new string. */
char *vk_strv_join(char *const *v, const char *sep);

/* Check a name we create or that becomes a file name: checkpoint names,
 * backup names.  Reports a usage error naming WHAT and the cause.
 */
int vk_check_name(const char *what, const char *name);
/* Check a name we only look up (domain, existing checkpoint): not empty,
 * no control characters.
 */
int vk_check_lookup_name(const char *what, const char *name);

/* Quote S for a shell command shown to the user in a suggested fix. */
char *vk_shell_quote(const char *s);
/* A copy of S with control characters replaced by '?', for printing
 * strings read from untrusted files.
 */
char *vk_printable(const char *s);
/* A copy of S, a name from a guest's file system, that prints on one
 * line and cannot drive a terminal, and from which S can be told back:
 * backslash, control characters, DEL, C1 controls and bytes that are not
 * UTF-8 become C escapes (\\, \n, \t, \033, \302\233...); other UTF-8
 * stays as it is.
 */
char *vk_escape_name(const char *s);
/* A copy of a message S (perhaps from libvirt or qemu-img) on one line:
 * line breaks become "; ", other control characters '?'.
 */
char *vk_printable_text(const char *s);

/* "a FIFO", "a directory"... for a st_mode. */
const char *vk_file_type_name(unsigned mode);

/* Format a byte count for people: "1.5 GiB". */
void vk_human_size(unsigned long long bytes, char *buf, size_t len);
/* Format a time_t as ISO 8601 local time with offset. */
void vk_format_time(long long t, char *buf, size_t len);
/* The UTC time T as vckpt names things by it (backup ids, checkpoint and
 * snapshot names): 20261122T180000Z, in BUF.
 */
#define VK_STAMP_LEN 17
void vk_utc_stamp(time_t t, char buf[VK_STAMP_LEN]);
/* Six unpredictable hex digits in BUF (names others must not guess:
 * getrandom, else, with no entropy yet, the sub-second time and the pid).
 */
void vk_random_hex6(char buf[7]);

/* vckpt's directory under /var/lib: the default repository and the state
 * directory of image operations.
 */
#define VK_VAR_DIR "/var/lib/vckpt"

#endif
