/* vckpt - quiesce: the guest's file systems frozen through the guest agent
 * (virDomainFSFreeze) around a backup's point in time, and always thawed.
 *
 * A freeze is guarded three ways:
 *   - the caller thaws (vk_quiesce_thaw) on every path, signals included;
 *   - a guard process (this program re-executed as the hidden command
 *     "quiesce-guard"), started before the freeze, holds one end of a socket
 *     pair: when the socket closes before the caller said "thawed" (vckpt
 *     was killed, SIGKILL included) the guard thaws at once; it also thaws
 *     after a timeout (VK_QUIESCE_TIMEOUT seconds, $VCKPT_QUIESCE_TIMEOUT)
 *     if the caller hangs, and on a stop signal (process.h);
 *   - a marker, $VCKPT_LOCK_DIR (else /run/vckpt) /UUID.frozen, written
 *     before the freeze and removed once thawed: the next backup of the
 *     domain (vk_quiesce_recover, under the host lock) thaws first.
 */
#ifndef VCKPT_QUIESCE_H
#define VCKPT_QUIESCE_H

#include <stdbool.h>
#include <libvirt/libvirt.h>

#include "flow.h"

#define VK_QUIESCE_TIMEOUT 30

struct vk_quiesce;

/* Freeze DOM's file systems (DOM on CONN), guarded.  0 with *Q set, or -1
 * with *WHY (malloc'd, nothing reported; *NO_AGENT when the freeze itself
 * failed, e.g. no guest agent): nothing is frozen then, no guard is left.
 */
int vk_quiesce_freeze(virConnectPtr conn, virDomainPtr dom, struct vk_quiesce **q,
                      char **why, bool *no_agent);
/* Thaw and end the guard; frees Q.  1 when the freeze held until now (the
 * guard did not thaw first), 0 when the guard had thawed before (timeout,
 * signal): the point in time may not have been quiescent; -1 with *WHY
 * when the thaw failed (the guard then tries once more on its own).
 */
int vk_quiesce_thaw(struct vk_quiesce *q, char **why);
/* Start a backup: BEGIN(OPAQUE) starts it and creates its checkpoint (the
 * backup's point in time; -1 after reporting), with DOM's file systems
 * frozen around it when QUIESCE (QUIESCE_TRY: without a guest agent, a
 * warning and a crash-consistent backup).  BEGIN's result, or -1 when the
 * freeze failed or a stop signal came while frozen (reported; BEGIN not
 * called).  *FROZEN: the freeze held from before BEGIN to after it;
 * *THAWED_EARLY: the guard thawed first and QUIESCE_TRY was not given, so
 * the caller must abort and fail the backup.
 */
int vk_quiesce_around(virConnectPtr conn, virDomainPtr dom, bool quiesce, bool quiesce_try,
                      int (*begin)(void *opaque), void *opaque, bool *frozen,
                      bool *thawed_early);
/* Under the host lock of DOM: if a killed run's marker says a freeze may
 * be left, thaw (a running domain) and remove the marker, saying so
 * through CB.  A thaw that fails is a warning (the marker stays for the
 * next run): a frozen guest's backup is still consistent.  0, or -1 after
 * reporting.
 */
int vk_quiesce_recover(virDomainPtr dom, const struct vk_flow_cb *cb);
/* The guard itself (the hidden command "quiesce-guard URI UUID"): its
 * socket is descriptor 3.  0 when vckpt thawed, or it thawed on its own;
 * -1 after reporting.
 */
int vk_quiesce_guard(const char *uri, const char *uuid);

#endif
