/* vckpt - what vckpt remembers about its checkpoints in the domain's own
 * <metadata> (our XML namespace): each disk's virtual size when the
 * checkpoint was taken, so a later resize can be detected.
 */
#ifndef VCKPT_META_H
#define VCKPT_META_H

#include <libvirt/libvirt.h>

#define VK_META_NS "https://vckpt.org/xmlns/checkpoints/1"

/* Record the current capacity of DISKS (NULL-terminated targets) for
 * checkpoint NAME.  Failure is a warning: the checkpoint stays valid.
 */
void vk_meta_record(virDomainPtr dom, const char *name, char *const *disks);
/* Forget checkpoint NAME (after it was deleted). */
void vk_meta_forget(virDomainPtr dom, const char *name);
/* The recorded capacity of DISK at checkpoint NAME, or -1 if unknown. */
long long vk_meta_capacity(virDomainPtr dom, const char *name, const char *disk);

#endif
