/* vckpt - a compressed qcow2 chain flattened into a new qcow2 image.
 *
 * Restore's path for chains with zstd-compressed files (backup
 * --compress): `qemu-img convert` decompresses one cluster at a time, each
 * a round trip through its thread pool with a fresh zstd context, and
 * takes 3-4 times as long as for the same data uncompressed.  Here the
 * chain's L2 tables are read (each guest cluster taken from the topmost
 * file that holds it, as QEMU reads a backing chain), the clusters are
 * decompressed by worker threads, each with its own zstd context, and
 * written into a new standalone qcow2 image (version 3, 64 KiB clusters,
 * 16-bit refcounts, no backing file: what `qemu-img convert -O qcow2`
 * makes) whose data clusters are laid out as they come and whose
 * metadata goes at its end.  Clusters that read as zeros stay
 * unallocated.
 *
 * The chain's files are untrusted: every offset and size read from them
 * is checked; a file that QEMU would refuse, or that holds something this
 * reader does not handle (encryption, an external data file, extended L2
 * entries, zlib-compressed clusters, links of different sizes or cluster
 * sizes), is left to qemu-img.
 */
#ifndef VCKPT_FLATTEN_H
#define VCKPT_FLATTEN_H

#include <stdbool.h>
#include <stddef.h>

/* One file of a chain: an open regular file, and its name for messages. */
struct vk_flatten_link {
  int fd;
  const char *name;
};

struct vk_flatten;

/* Read the headers of the chain LINKS[0..N) (top first, each backed by
 * the next) and decide: 1 when it is for vk_flatten_run (some file is
 * zstd-compressed and all are of a kind it handles; *OUT set), 0 when
 * qemu-img should convert it (*OUT NULL; the reason is logged with
 * vk_debug), -1 on an error (reported).
 */
int vk_flatten_open(const struct vk_flatten_link *links, size_t n, struct vk_flatten **out);

/* Write the chain's guest data as a new qcow2 image into OUTFD (an empty
 * regular file, O_DIRECT or not; OUTNAME names it in messages), with
 * THREADS workers (0: one more than there are processors, 2 to 8).
 * Returns 0 (the image is complete; the caller makes it durable), 1 when
 * the chain holds something vk_flatten does not handle (nothing
 * reported: remove OUTFD's file and let qemu-img convert the chain), or
 * -1 on an error or a stop signal (reported; VK_EXIT_INTERRUPTED for a
 * signal).  The writes are whole clusters at cluster offsets from
 * aligned buffers.
 */
int vk_flatten_run(struct vk_flatten *fl, int outfd, const char *outname, unsigned threads);

/* Free what vk_flatten_open made (NULL is fine). */
void vk_flatten_free(struct vk_flatten *fl);

#endif
