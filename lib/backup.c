/* vckpt - push-mode backup jobs through libvirt. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "backup.h"
#include "process.h"
#include "util.h"
#include "xml.h"

unsigned int
vk_backup_begin_flags(unsigned long libvirt_version)
{
  unsigned int flags = VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL;
  if (libvirt_version >= 11010000)
    flags |= VIR_DOMAIN_BACKUP_BEGIN_PRESERVE_SHUTDOWN_DOMAIN;
  return flags;
}

/* The <domainbackup> document of a push job, or with SRV of a pull job
 * (backup.h).
 */
static xmlDocPtr
backup_xml(const char *incremental, const struct vk_job_disk *disks, size_t n,
           char *const *all, const struct vk_nbd_server *srv, char *const *scratch)
{
  xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
  xmlNodePtr root = xmlNewNode(NULL, (const xmlChar *)"domainbackup");
  xmlDocSetRootElement(doc, root);
  xmlNewProp(root, (const xmlChar *)"mode", (const xmlChar *)(srv ? "pull" : "push"));
  if (incremental)
    vk_xml_add_text(root, "incremental", incremental);
  if (srv) {
    xmlNodePtr s = xmlNewChild(root, NULL, (const xmlChar *)"server", NULL);
    if (srv->socket) {
      xmlNewProp(s, (const xmlChar *)"transport", (const xmlChar *)"unix");
      xmlNewProp(s, (const xmlChar *)"socket", (const xmlChar *)srv->socket);
    } else {
      char port[16];
      snprintf(port, sizeof port, "%d", srv->port);
      xmlNewProp(s, (const xmlChar *)"transport", (const xmlChar *)"tcp");
      xmlNewProp(s, (const xmlChar *)"name", (const xmlChar *)srv->host);
      xmlNewProp(s, (const xmlChar *)"port", (const xmlChar *)port);
      xmlNewProp(s, (const xmlChar *)"tls", (const xmlChar *)"yes");
    }
  }
  xmlNodePtr xdisks = xmlNewChild(root, NULL, (const xmlChar *)"disks", NULL);
  for (size_t i = 0; all && all[i]; i++) {
    const struct vk_job_disk *d = NULL;
    for (size_t j = 0; j < n && !d; j++)
      if (strcmp(disks[j].target, all[i]) == 0)
        d = &disks[j];
    xmlNodePtr x = xmlNewChild(xdisks, NULL, (const xmlChar *)"disk", NULL);
    xmlNewProp(x, (const xmlChar *)"name", (const xmlChar *)all[i]);
    if (!d) {
      xmlNewProp(x, (const xmlChar *)"backup", (const xmlChar *)"no");
      continue;
    }
    xmlNewProp(x, (const xmlChar *)"backup", (const xmlChar *)"yes");
    if (incremental && d->whole)
      xmlNewProp(x, (const xmlChar *)"backupmode", (const xmlChar *)"full");
    xmlNewProp(x, (const xmlChar *)"type", (const xmlChar *)"file");
    xmlNodePtr t = xmlNewChild(x, NULL, (const xmlChar *)(srv ? "scratch" : "target"), NULL);
    xmlNewProp(t, (const xmlChar *)"file", (const xmlChar *)(srv ? scratch[d - disks] : d->file));
    xmlNodePtr drv = xmlNewChild(x, NULL, (const xmlChar *)"driver", NULL);
    xmlNewProp(drv, (const xmlChar *)"type", (const xmlChar *)"qcow2");
  }
  return doc;
}

xmlDocPtr
vk_backup_xml(const char *incremental, const struct vk_job_disk *disks, size_t n,
              char *const *all)
{
  return backup_xml(incremental, disks, n, all, NULL, NULL);
}

xmlDocPtr
vk_backup_pull_xml(const char *incremental, const struct vk_job_disk *disks, size_t n,
                   char *const *all, const struct vk_nbd_server *srv, char *const *scratch)
{
  return backup_xml(incremental, disks, n, all, srv, scratch);
}

/* Create one disk's target file with qemu-img (backup.h). */
/* Make the new target FILE 0600 at once: a default ACL on the chain
 * directory would override the umask, and the directory is searchable.
 * (The directory is vckpt's alone: the name cannot have been swapped.)
 */
static int
private_target(const char *file)
{
  if (chmod(file, 0600) < 0) {
    vk_error(VK_EXIT_FAILURE, "%s: chmod: %s", file, strerror(errno));
    return -1;
  }
  return 0;
}

int
vk_target_create(const struct vk_job_disk *d)
{
  char size[32];
  snprintf(size, sizeof size, "%llu", (unsigned long long)d->size);
  char *argv[16] = { (char *)QEMU_IMG, "create", "-q", "-f", "qcow2" };
  size_t n = 5;
  if (d->compress) {
    argv[n++] = "-o";
    argv[n++] = "compression_type=zstd";
  }
  if (d->backing) {
    /* -u: the size is given and the backing is the previous backup of the
     * chain, which vckpt has checked: qemu-img need not open the chain.
     */
    argv[n++] = "-F";
    argv[n++] = "qcow2";
    argv[n++] = "-u";
    argv[n++] = "-b";
    argv[n++] = (char *)d->backing;
  }
  argv[n++] = (char *)d->file;
  argv[n++] = size;
  return vk_run(argv) < 0 ? -1 : private_target(d->file);
}
