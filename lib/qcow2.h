/* vckpt - libvirt checkpoints and incremental backups.
 * qcow2 backing chain and persistent dirty bitmap reader.
 *
 * Reads the metadata of qcow2 images (header, header extensions, backing
 * file name, bitmap directory) from UNTRUSTED files, following QEMU's
 * docs/interop/qcow2.txt and the checks QEMU's block/qcow2.c and
 * block/qcow2-bitmap.c make when opening an image.  Every offset, length and
 * count read from a file is bounds-checked; a hostile or truncated image
 * gives an error string, never a crash.  Bitmap tables and guest data are
 * never read.
 *
 * Only libc is used, so the unit test and the fuzzer link just qcow2.c.
 *
 * Strings taken from an image (backing file and format names, bitmap names,
 * data file name) contain no NUL but may contain any other byte, including
 * control characters and invalid UTF-8: escape them before printing.
 */
#ifndef VCKPT_QCOW2_H
#define VCKPT_QCOW2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Header feature bits (qcow2.txt "Header"). */
#define VK_QCOW2_INCOMPAT_DIRTY       (UINT64_C(1) << 0)
#define VK_QCOW2_INCOMPAT_CORRUPT     (UINT64_C(1) << 1)
#define VK_QCOW2_INCOMPAT_DATA_FILE   (UINT64_C(1) << 2)
#define VK_QCOW2_INCOMPAT_COMPRESSION (UINT64_C(1) << 3)
#define VK_QCOW2_INCOMPAT_EXTL2       (UINT64_C(1) << 4)
#define VK_QCOW2_INCOMPAT_KNOWN       (UINT64_C(0x1f)) /* what QEMU 7-9 know */
#define VK_QCOW2_COMPAT_LAZY_REFCOUNTS (UINT64_C(1) << 0)
#define VK_QCOW2_AUTOCLEAR_BITMAPS    (UINT64_C(1) << 0)
#define VK_QCOW2_AUTOCLEAR_DATA_FILE_RAW (UINT64_C(1) << 1)

/* Bitmap directory entry flags. */
#define VK_BME_FLAG_IN_USE     (UINT32_C(1) << 0)
#define VK_BME_FLAG_AUTO       (UINT32_C(1) << 1)
#define VK_BME_FLAG_EXTRA_DATA_COMPATIBLE (UINT32_C(1) << 2)
#define VK_BME_TYPE_DIRTY_TRACKING 1

/* Limits taken from QEMU. */
#define VK_QCOW2_MIN_CLUSTER_BITS 9
#define VK_QCOW2_MAX_CLUSTER_BITS 21
#define VK_QCOW2_MAX_BACKING_NAME 1023
#define VK_QCOW2_MAX_BITMAPS 65535
#define VK_QCOW2_MAX_BITMAP_DIRECTORY_SIZE (64 * 1024 * 1024)
#define VK_BME_MAX_NAME_SIZE 1023
/* Chains longer than this are reported as VK_CHAIN_TOO_DEEP. */
#define VK_CHAIN_MAX_DEPTH 1000

enum vk_image_format {
  VK_FMT_QCOW2,
  VK_FMT_RAW,
  VK_FMT_OTHER,   /* recognised or declared but not inspected (vmdk, luks...) */
};

/* One entry of the bitmap directory. */
struct vk_bitmap {
  char *name;                 /* 1..1023 bytes, no NUL */
  uint32_t granularity_bits;  /* granularity = 1 << bits (valid: 9..31) */
  uint8_t type;               /* 1 = dirty tracking bitmap */
  uint32_t flags;             /* raw flags */
  bool in_use;                /* flag bit 0: not saved cleanly, contents unusable */
  bool enabled;               /* flag bit 1 'auto': tracks writes */
  bool extra_data_compatible; /* flag bit 2 */
  uint64_t table_offset;      /* bitmap table: not read, only recorded */
  uint32_t table_size;        /* entries in the bitmap table */
  uint32_t extra_data_size;
  /* NULL if the bitmap is usable; otherwise why not.  Either QEMU refuses
   * the entry (reserved flags, extra data, type, granularity, bitmap table
   * offset or size, duplicate name) -- and then QEMU fails to open the
   * whole image, even read-only -- or its bitmap table lies past the end of
   * the file (a truncated image: QEMU would read zeros, an empty bitmap).
   */
  char *problem;
};

/* What one image file says about itself. */
struct vk_image {
  char *filename;             /* path as opened (backing names resolved) */
  enum vk_image_format format;
  char *format_name;          /* "qcow2", "raw", or e.g. "vmdk" */
  bool format_probed;         /* no format was given: it was guessed */
  int version;                /* qcow2 2 or 3, 0 otherwise */
  /* The disk size QEMU presents to the guest, in whole 512-byte sectors as
   * QEMU counts it: the qcow2 header's size rounded down, a raw file's size
   * rounded up (what qemu-img info shows as virtual-size).
   */
  uint64_t virtual_size;
  uint64_t file_size;         /* size of the file itself */
  uint32_t cluster_bits;      /* 0 unless qcow2 */
  uint64_t incompatible_features, compatible_features, autoclear_features;
  bool dirty, corrupt;        /* incompatible bits 0 and 1 */
  bool extended_l2;           /* incompatible bit 4 */
  uint32_t crypt_method;      /* 0 none, 1 AES, 2 LUKS */
  uint32_t compression_type;  /* 0 zlib, 1 zstd */
  uint32_t refcount_order;
  uint64_t l1_table_offset;   /* the active L1 table (vk_image_data_bytes) */
  uint32_t l1_size;           /* its entries */
  uint32_t nb_snapshots;      /* internal snapshots (not read) */
  bool has_bitmaps_extension; /* a bitmaps header extension is present */
  /* Autoclear bit 0: the bitmaps extension is consistent.  If the extension
   * is present but this is false, a program without bitmap support wrote the
   * image: QEMU ignores (and drops) all its bitmaps, and so do we
   * (nr_bitmaps is 0).  True when there is no bitmaps extension.
   */
  bool bitmaps_consistent;
  /* Where the bitmap directory is (0 if none was read). */
  uint64_t bitmap_directory_offset, bitmap_directory_size;
  char *backing_file;         /* as recorded in the header, or NULL */
  char *backing_format;       /* from the backing format extension, or NULL */
  char *data_file;            /* external data file name extension, or NULL */
  size_t nr_bitmaps;
  struct vk_bitmap *bitmaps;
  /* Remarks that do not stop the parse (unknown features, external data
   * file, truncated tables, ...), each a complete sentence.
   */
  size_t nr_notes;
  char **notes;
};

/* How a chain walk ended. */
enum vk_chain_end {
  VK_CHAIN_COMPLETE,    /* the last image has no backing file */
  VK_CHAIN_MISSING,     /* a backing file does not exist (end_path) */
  VK_CHAIN_LOOP,        /* a backing file is already in the chain (loop_index) */
  VK_CHAIN_UNSUPPORTED, /* json:/protocol backing name, or a format not inspected */
  VK_CHAIN_TOO_DEEP,    /* more than VK_CHAIN_MAX_DEPTH images */
  VK_CHAIN_ERROR,       /* a backing file exists but could not be read or parsed */
};

struct vk_chain {
  size_t nr_images;
  struct vk_image *images;    /* [0] = top, [nr_images-1] = last one read */
  enum vk_chain_end end;
  char *end_path;             /* backing file that ended the chain, or NULL */
  char *end_detail;           /* explanation when end != COMPLETE, or NULL */
  size_t loop_index;          /* VK_CHAIN_LOOP: images[] index end_path is */
};

/* A random-access byte source: a file, or memory for the fuzzer.
 * pread reads exactly COUNT bytes at OFFSET (the caller guarantees
 * OFFSET + COUNT <= size) and returns 0, or -1 with errno set.
 */
struct vk_source {
  void *opaque;
  uint64_t size;
  int (*pread)(void *opaque, void *buf, size_t count, uint64_t offset);
};

/* Parse one image from SRC.  FORMAT_HINT: "qcow2" (error if it is not),
 * "raw" (not probed), another name (VK_FMT_OTHER, not read), or NULL to
 * probe.  NAME_FOR_ERRORS prefixes error messages and becomes img->filename.
 * Returns 0, or -1 with *err set to a malloc'd message (if err is not NULL;
 * *err stays NULL only if memory ran out).  img is cleared first and is left
 * empty on error.
 */
int vk_image_parse(const struct vk_source *src, const char *name_for_errors,
                   const char *format_hint, struct vk_image *img, char **err);

/* Open PATH read-only (no locks; regular files and block devices only) and
 * parse it as vk_image_parse does.  On failure errno is that of the failed
 * open(2) (ENOENT, EACCES...), or EINVAL if PATH was opened but is not a
 * readable image, or ENOMEM.
 */
int vk_image_open(const char *path, const char *format_hint,
                  struct vk_image *img, char **err);

/* Read TOP and follow its backing files.  Relative backing names are
 * resolved against the directory of the image naming them, as QEMU does;
 * json: and protocol names are not followed; loops are found by device and
 * inode.  Returns -1 with *err set only if TOP itself cannot be read; a
 * problem further down ends the chain (chain->end, end_path, end_detail)
 * and 0 is returned.  On -1, errno is set as by vk_image_open.
 */
int vk_chain_open(const char *top, const char *format_hint,
                  struct vk_chain *chain, char **err);

/* Resolve the backing name BACKING recorded in the image at path BACKED the
 * way QEMU does (bdrv_get_full_backing_filename_from_filename): absolute
 * names as they are, relative names against BACKED's directory.  Returns a
 * malloc'd path, or NULL (out of memory).
 */
char *vk_resolve_backing_path(const char *backed, const char *backing);

/* Whether QEMU would read NAME as "protocol:..." (a colon before any
 * slash), e.g. "nbd:...", "json:{...}", "file:x".
 */
bool vk_path_has_protocol(const char *name);

/* The guest data a qcow2 image IMG (parsed from SRC) holds in its own
 * clusters, the ones its active L2 tables map to data, compressed or not
 * (zero and unallocated clusters hold none; the cluster at the end counts
 * up to the virtual size only): *DATA bytes, of which *COMPRESSED
 * clusters are compressed.  Reads the L1 table and each L2 table it names
 * (one cluster each).  0, or -1 with *ERR set (a table outside the file).
 */
int vk_image_data_bytes(const struct vk_source *src, const struct vk_image *img,
                        uint64_t *data, uint64_t *compressed, char **err);

/* Free everything an image holds and zero it. */
void vk_image_clear(struct vk_image *img);
/* Free everything a chain holds and zero it. */
void vk_chain_clear(struct vk_chain *chain);

/* The bitmap called NAME in IMG, or NULL. */
const struct vk_bitmap *vk_image_find_bitmap(const struct vk_image *img,
                                             const char *name);

/* "complete", "missing", "loop", "unsupported", "too-deep", "error". */
const char *vk_chain_end_name(enum vk_chain_end end);

#endif
