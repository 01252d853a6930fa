/* vckpt - libvirt access: connection, lookups, error translation, domain
 * disks.  The only layer (with backup.c) that calls libvirt.
 */
#ifndef VCKPT_VIRT_H
#define VCKPT_VIRT_H

#include <stdbool.h>
#include <libvirt/libvirt.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include "cleanup.h"
#include "util.h"

/* Silence libvirt's default error printing; we report errors ourselves. */
void vk_virt_init(void);
/* Report the last libvirt error, prefixed with a message; the exit code
 * is chosen from libvirt's error code (no domain -> not found, ...).
 */
void vk_virt_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same for a failure to start a job (virDomainBackupBegin): there
 * VIR_ERR_OPERATION_INVALID means another backup job is registered, busy.
 * Busy is decided on libvirt's error codes only, never on its (translated)
 * message text.
 */
void vk_virt_job_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The code (VIR_ERR_*) and message of the last error libvirt raised. */
int vk_virt_last_code(void);
const char *vk_virt_last_message(void);

/* Open a connection: URI, else LIBVIRT_DEFAULT_URI, else libvirt's default. */
virConnectPtr vk_connect(const char *uri);
/* The host name of CONN's hypervisor and the URI of CONN, as the manifest
 * records them (malloc'd), or NULL when libvirt does not say or they are
 * not printable ASCII without spaces (nothing is reported).
 */
void vk_virt_host(virConnectPtr conn, char **name, char **uri);
/* Look up a domain by name; reports "domain 'x' not found". */
virDomainPtr vk_domain_lookup(virConnectPtr conn, const char *name);
/* Look up a checkpoint of a domain by name. */
virDomainCheckpointPtr vk_checkpoint_lookup(virDomainPtr dom, const char *name);
/* The host of CONN's URI when it names one ("qemu+tls://hv1/system":
 * "hv1", malloc'd): the hypervisor is another machine, whose files vckpt
 * cannot read; NULL for a local URI (no host, or the URI unreadable).
 */
char *vk_conn_remote_host(virConnectPtr conn);
/* Whether the domain is running (or paused): has a QEMU process. */
bool vk_domain_is_active(virDomainPtr dom);

/* A domain's XML, parsed, with an XPath context on it. */
struct vk_domain_xml {
  xmlDocPtr doc;
  xmlXPathContextPtr ctx;
};
/* Read the XML of DOM (virDomainGetXMLDesc with FLAGS) into X: 0, or -1
 * after reporting.  Clear X with vk_domain_xml_clear (CLEANUP_DOMAIN_XML).
 */
int vk_domain_xml_read(virDomainPtr dom, unsigned int flags, struct vk_domain_xml *x);
void vk_domain_xml_clear(struct vk_domain_xml *x);
/* The <disk> element of X whose target is TARGET, or NULL. */
xmlNodePtr vk_domain_xml_disk(const struct vk_domain_xml *x, const char *target);

/* A disk pointed at another file (vk_domain_move_disks). */
struct vk_disk_move {
  const char *target;   /* vda */
  const char *from;     /* the file it must name now, or NULL for any (then
                           a disk the definition lacks is left alone) */
  const char *to;       /* the file it names afterwards */
};
/* In the persistent definition of DOM, make each disk MOVES[i].target name
 * its TO instead of its FROM (one that names TO already, or the same file,
 * is left alone; one that names neither is refused: its definition changed
 * meanwhile), dropping its <backingStore>, and define the domain when
 * anything changed.  The rest of the definition stays as it was (read with
 * its secrets, so none is lost).  0, or -1 after reporting.
 */
int vk_domain_move_disks(virDomainPtr dom, size_t n, const struct vk_disk_move *moves);

/* One disk of a domain, from its live (or inactive) XML. */
struct vk_disk {
  char *target;   /* vda */
  char *type;     /* file, block, network, volume */
  char *source;   /* file or device path, or NULL */
  char *format;   /* driver type: qcow2, raw, ... or NULL */
  char *device;   /* disk, cdrom, floppy, lun */
  bool readonly;
};
struct vk_disks {
  size_t n;
  struct vk_disk *disk;
};
/* Read the domain's disks (device='disk' and others) in target order. */
int vk_domain_disks(virDomainPtr dom, unsigned int xml_flags, struct vk_disks *out);
/* Find a disk by target name, or NULL. */
const struct vk_disk *vk_disks_find(const struct vk_disks *d, const char *target);
/* Check that every name in TARGETS is a disk of the domain that can take
 * a checkpoint (device='disk'); reports "disk 'x' not found" otherwise.
 */
int vk_disks_check(const struct vk_disks *d, const char *domname, char *const *targets);
void vk_disks_clear(struct vk_disks *d);

struct vk_qemu_user;
/* QEMU's user and group for domain DOM (NULL: a new domain), as libvirt's
 * DAC driver runs it: the domain's own label, else the host's default
 * (capabilities).  Not known (OUT->known false) when libvirt does not say.
 * Always 0.
 */
int vk_qemu_user(virConnectPtr conn, virDomainPtr dom, struct vk_qemu_user *out);
/* Open directory DIR (for WHAT, "--to") that a domain will name its images
 * in: only root may change it (vk_dir_open_trusted, status 2) and QEMU's
 * user, returned in *QU, must reach it (status 4).  A descriptor with the
 * absolute path in *ABS, or -1 (reported).
 */
int vk_domain_dir_open(virConnectPtr conn, const char *dir, const char *what, char **abs,
                       struct vk_qemu_user *qu);

#endif
