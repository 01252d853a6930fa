/* vckpt - a small QMP client for a qemu-storage-daemon vckpt starts itself.
 *
 * The daemon runs as our child (no shell), in its own process group, with
 * PR_SET_PDEATHSIG so that it dies with vckpt, its monitor on a unix socket
 * in a private 0700 directory.  Messages are JSON objects, one per line
 * (json-c).  Events that arrive while a command waits for its answer are
 * queued for vk_qmp_event.  Every read has a time limit, and the end of the
 * child (EOF on the socket) is noticed and reported.
 */
#ifndef VCKPT_QMP_H
#define VCKPT_QMP_H

#include <stdbool.h>
#include <sys/types.h>
#include <json-c/json.h>

struct vk_qmp;

/* Start PROGRAM (an absolute path) as a qemu-storage-daemon with its QMP
 * monitor on a socket in a new private directory, connect, read the
 * greeting and leave negotiation mode.  NULL after reporting.
 */
struct vk_qmp *vk_qmp_start(const char *program);
/* Run COMMAND with ARGS (taken, may be NULL).  0 with *RET (if RET is not
 * NULL) the "return" value (a new reference); -1 with *ERR (malloc'd) the
 * daemon's error description, or why there was no answer (the daemon
 * exited, timeout of TIMEOUT_MS).  Nothing is reported.
 */
int vk_qmp_execute(struct vk_qmp *q, const char *command, json_object *args,
                   int timeout_ms, json_object **ret, char **err);
/* The next event (a new reference), waiting up to TIMEOUT_MS: NULL on
 * timeout (*GONE false) or when the daemon went away (*GONE true).
 * A signal that interrupts the wait returns NULL early (*GONE false).
 */
json_object *vk_qmp_event(struct vk_qmp *q, int timeout_ms, bool *gone);
/* How the daemon ended, for messages ("exited with status 1", "killed by
 * signal 9"), reaping it if it is gone; NULL while it runs.
 */
char *vk_qmp_exit_text(struct vk_qmp *q);
/* Ask the daemon to quit and reap it (SIGTERM, then SIGKILL after
 * TIMEOUT_MS each); remove its socket and directory; free Q.  Returns
 * 0 if it quit by itself with status 0.
 */
int vk_qmp_stop(struct vk_qmp *q, int timeout_ms);

#endif
