/* vckpt - libvirt checkpoints and incremental backups.
 * A writer of the pull job's uncompressed targets, into the qcow2 file
 * `qemu-img create` made (empty, version 3, 16-bit refcounts, maybe with a
 * backing file): guest data lands in fresh clusters appended to the file,
 * the tables are written when a part of the disk is done and at the end,
 * and the refcounts last.  The file is a new one of vckpt's own (a failed
 * backup removes it), so nothing is journalled.
 *
 * Several threads may write at once, each its own clusters of the disk.
 */
#ifndef VCKPT_QCOW2W_H
#define VCKPT_QCOW2W_H

#include <stdbool.h>
#include <stdint.h>

struct vk_qcow2w;

/* Open FILE, a qcow2 just made by `qemu-img create`, for writing.
 * BACKING: it has a backing file, so clusters of zeros are recorded as
 * such (they hide older data) instead of being left out.  0, or -1 with
 * *ERR set (malloc'd).
 */
int vk_qcow2w_open(const char *file, bool backing, struct vk_qcow2w **w, char **err);

/* The disk's size, as the image's header has it. */
uint64_t vk_qcow2w_size(const struct vk_qcow2w *w);

/* The cluster size: writes and zeros start on a cluster and cover whole
 * clusters (the last one may end at the disk's end).
 */
uint32_t vk_qcow2w_cluster_size(const struct vk_qcow2w *w);

/* Write LEN bytes of guest data at guest offset OFF.  Clusters that are all
 * zeros are left out, or marked as zeros with a backing file.  0, or -1
 * with errno set.
 */
int vk_qcow2w_write(struct vk_qcow2w *w, const void *buf, uint64_t off, uint64_t len);

/* Mark [OFF, OFF+LEN) as reading zeros (only needed with a backing file;
 * without one it is a no-op).  0, or -1 with errno set.
 */
int vk_qcow2w_zero(struct vk_qcow2w *w, uint64_t off, uint64_t len);

/* Nothing more will be written in [OFF, END): the tables that cover only
 * done parts are written out and their memory freed (what keeps memory
 * flat in the disk's size).  0, or -1 with errno set.
 */
int vk_qcow2w_done(struct vk_qcow2w *w, uint64_t off, uint64_t end);

/* Write what is left of the tables and the refcounts: the file is then a
 * complete qcow2 image (not yet synced).  0, or -1 with *ERR set.
 */
int vk_qcow2w_finish(struct vk_qcow2w *w, char **err);

/* Close the file and free W (finished or not).  NULL is fine. */
void vk_qcow2w_close(struct vk_qcow2w *w);

#endif /* VCKPT_QCOW2W_H */
