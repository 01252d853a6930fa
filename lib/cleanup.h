/* vckpt - every cleanup attribute, in one place.
 *
 * A variable declared with one of these is released when it goes out of
 * scope, on every path.  Rules (HACKING.md): always initialise it (NULL,
 * or -1 for a descriptor); never jump over its declaration with goto
 * (clang rejects that, gcc does not).  The functions live with the type
 * they release; they take a pointer to the variable.
 */
#ifndef VCKPT_CLEANUP_H
#define VCKPT_CLEANUP_H

/* util.c */
void vk_cleanup_free(void *ptr);      /* char *, any malloc'd pointer */
void vk_cleanup_strv(void *ptr);      /* char **, NULL-terminated */
void vk_cleanup_close(void *ptr);     /* int fd, -1 for none */
/* output.c */
void vk_cleanup_json(void *ptr);      /* json_object * */
/* xml.c */
void vk_cleanup_xmldoc(void *ptr);    /* xmlDocPtr */
void vk_cleanup_xpathctx(void *ptr);  /* xmlXPathContextPtr */
void vk_cleanup_xpathobj(void *ptr);  /* xmlXPathObjectPtr */
/* virt.c */
void vk_cleanup_conn(void *ptr);      /* virConnectPtr */
void vk_cleanup_domain(void *ptr);    /* virDomainPtr */
void vk_cleanup_checkpoint(void *ptr);/* virDomainCheckpointPtr */
void vk_cleanup_disks(void *ptr);     /* struct vk_disks (cleared, not freed) */
void vk_cleanup_domain_xml(void *ptr);/* struct vk_domain_xml (cleared, not freed) */
/* qcow2.c */
void vk_cleanup_image(void *ptr);     /* struct vk_image (cleared, not freed) */
void vk_cleanup_chain(void *ptr);     /* struct vk_chain (cleared, not freed) */
/* journal.c */
void vk_cleanup_imageop_journal(void *ptr); /* struct vk_imageop_journal (cleared) */

#define CLEANUP_FREE __attribute__((cleanup(vk_cleanup_free)))
#define CLEANUP_STRV __attribute__((cleanup(vk_cleanup_strv)))
#define CLEANUP_CLOSE __attribute__((cleanup(vk_cleanup_close)))
#define CLEANUP_JSON __attribute__((cleanup(vk_cleanup_json)))
#define CLEANUP_XMLDOC __attribute__((cleanup(vk_cleanup_xmldoc)))
#define CLEANUP_XPATHCTX __attribute__((cleanup(vk_cleanup_xpathctx)))
#define CLEANUP_XPATHOBJ __attribute__((cleanup(vk_cleanup_xpathobj)))
#define CLEANUP_CONN __attribute__((cleanup(vk_cleanup_conn)))
#define CLEANUP_DOMAIN __attribute__((cleanup(vk_cleanup_domain)))
#define CLEANUP_CHECKPOINT __attribute__((cleanup(vk_cleanup_checkpoint)))
#define CLEANUP_DISKS __attribute__((cleanup(vk_cleanup_disks)))
#define CLEANUP_DOMAIN_XML __attribute__((cleanup(vk_cleanup_domain_xml)))
#define CLEANUP_IMAGE __attribute__((cleanup(vk_cleanup_image)))
#define CLEANUP_CHAIN __attribute__((cleanup(vk_cleanup_chain)))
#define CLEANUP_IMAGEOP_JOURNAL __attribute__((cleanup(vk_cleanup_imageop_journal)))

#endif
