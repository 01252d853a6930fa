/* vckpt - qcow2 backing chain and persistent dirty bitmap reader.
 *
 * Layout: docs/interop/qcow2.txt in QEMU.  Checks mirror QEMU's
 * qcow2_do_open(), qcow2_read_extensions(), bitmap_list_load() and
 * check_dir_entry(), so that an image we accept is one QEMU opens, and the
 * reasons QEMU would refuse an image are reported.
 *
 * Everything read from the file is untrusted.  The first cluster (at most
 * 2 MiB) is read into memory once and the header, the header extensions and
 * the backing file name are taken from it with explicit bounds checks; the
 * bitmap directory (at most 64 MiB, and within the file) is read separately.
 * Nothing is allocated from a count before the count is checked against a
 * cap and against the bytes that hold it.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#else
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "cleanup.h"
#include "qcow2.h"

#define QCOW2_MAGIC 0x514649fbU          /* "QFI\xfb" */
#define QCOW2_V2_HEADER_LENGTH 72
#define QCOW2_V3_HEADER_LENGTH 104
#define QCOW2_COMPRESSION_TYPE_OFFSET 104

#define EXT_END             0x00000000U
#define EXT_BACKING_FORMAT  0xe2792acaU
#define EXT_FEATURE_TABLE   0x6803f857U
#define EXT_BITMAPS         0x23852875U
#define EXT_CRYPTO_HEADER   0x0537be77U
#define EXT_DATA_FILE       0x44415441U

#define BITMAPS_EXT_SIZE 24
#define FEATURE_ENTRY_SIZE 48
#define FEATURE_NAME_SIZE 46
#define BACKING_FORMAT_MAX 16            /* sizeof bs->backing_format */
#define BME_ENTRY_HEADER_SIZE 24
#define BME_MIN_ENTRY_SIZE 32            /* 24 + a 1-byte name, padded */
#define BME_MIN_GRANULARITY_BITS 9
#define BME_MAX_GRANULARITY_BITS 31
#define BME_MAX_TABLE_SIZE UINT32_C(0x8000000)
#define BME_MAX_PHYS_SIZE UINT64_C(0x20000000)
#define BME_KNOWN_FLAGS (VK_BME_FLAG_IN_USE | VK_BME_FLAG_AUTO)

/* QEMU's table limits (qcow2.h). */
#define QCOW_MAX_REFTABLE_SIZE (UINT64_C(8) << 20)
#define QCOW_MAX_L1_SIZE (UINT64_C(32) << 20)
#define QCOW_MAX_SNAPSHOTS 65536
#define QCOW_SNAPSHOT_HEADER_SIZE 40

#define MAX_NOTES 32
#define PROBE_SIZE 512

/* ---------------------------------------------------------------------- */
/* Strings and errors. */

/* vasprintf with only C99: a malloc'd formatted string, or NULL. */
static char *vfmt(const char *fmt, va_list ap)
  __attribute__((format(printf, 1, 0)));
static char *
vfmt(const char *fmt, va_list ap)
{
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0)
    return NULL;
  char *s = malloc((size_t)n + 1);
  if (s)
    vsnprintf(s, (size_t)n + 1, fmt, ap);
  return s;
}

/* A malloc'd formatted string, or NULL. */
static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *
fmt(const char *f, ...)
{
  va_list ap;
  va_start(ap, f);
  char *s = vfmt(f, ap);
  va_end(ap);
  return s;
}

/* A malloc'd copy of LEN bytes at P plus a NUL, or NULL. */
static char *
memdup_str(const void *p, size_t len)
{
  char *s = malloc(len + 1);
  if (s) {
    memcpy(s, p, len);
    s[len] = '\0';
  }
  return s;
}

/* Set *ERR (if wanted) to "NAME: message"; returns -1 for "return fail()". */
static int fail(char **err, const char *name, const char *f, ...)
  __attribute__((format(printf, 3, 4)));
static int
fail(char **err, const char *name, const char *f, ...)
{
  if (!err)
    return -1;
  free(*err);
  va_list ap;
  va_start(ap, f);
  char *msg = vfmt(f, ap);
  va_end(ap);
  *err = msg ? fmt("%s: %s", name, msg) : NULL;
  free(msg);
  return -1;
}

static uint16_t
be16(const uint8_t *p)
{
  return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t
be32(const uint8_t *p)
{
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t
be64(const uint8_t *p)
{
  return ((uint64_t)be32(p) << 32) | be32(p + 4);
}

/* Round up to a multiple of 8 (x is always far below UINT64_MAX here). */
static uint64_t
round8(uint64_t x)
{
  return (x + 7) & ~UINT64_C(7);
}

/* ---------------------------------------------------------------------- */
/* The parser. */

struct parser {
  const struct vk_source *src;
  const char *name;
  struct vk_image *img;
  char **err;

  uint8_t *hdr;              /* the first cluster, or less if the file ends */
  size_t hdr_len;
  uint32_t cluster_size;
  uint32_t header_length;
  uint64_t ext_end;          /* end of the header extension area */

  const uint8_t *feature_table;  /* into hdr, or NULL */
  size_t feature_table_len;

  bool bitmaps_ext_seen, backing_format_seen, data_file_seen,
    crypto_seen, feature_table_seen;
  uint32_t nb_bitmaps;
  uint64_t bitmap_dir_size, bitmap_dir_offset;
  bool notes_truncated;
};

/* Append a note to the image; -1 only when out of memory. */
static int note(struct parser *p, const char *f, ...)
  __attribute__((format(printf, 2, 3)));
static int
note(struct parser *p, const char *f, ...)
{
  struct vk_image *img = p->img;

  if (img->nr_notes >= MAX_NOTES) {
    if (p->notes_truncated)
      return 0;
    p->notes_truncated = true;
    f = "further notes omitted";
  }
  char **n = realloc(img->notes, (img->nr_notes + 1) * sizeof *n);
  if (!n)
    return fail(p->err, p->name, "out of memory");
  img->notes = n;
  va_list ap;
  va_start(ap, f);
  n[img->nr_notes] = vfmt(f, ap);
  va_end(ap);
  if (!n[img->nr_notes])
    return fail(p->err, p->name, "out of memory");
  img->nr_notes++;
  return 0;
}

static int
oom(struct parser *p)
{
  return fail(p->err, p->name, "out of memory");
}

/* Check that [OFFSET, OFFSET+LEN) lies inside the file. */
static int
check_in_file(struct parser *p, const char *what, uint64_t offset,
              uint64_t len)
{
  uint64_t size = p->src->size;
  if (offset > size || len > size - offset)
    return fail(p->err, p->name,
                "%s at offset 0x%" PRIx64 " (%" PRIu64 " bytes) extends past "
                "end of file (size %" PRIu64 ")", what, offset, len, size);
  return 0;
}

/* Read LEN bytes at OFFSET, which must lie inside the file. */
static int
read_at(struct parser *p, const char *what, void *buf, size_t len,
        uint64_t offset)
{
  if (check_in_file(p, what, offset, len) == -1)
    return -1;
  if (len == 0)
    return 0;
  errno = 0;
  if (p->src->pread(p->src->opaque, buf, len, offset) == -1)
    return fail(p->err, p->name, "reading %s at offset 0x%" PRIx64 ": %s",
                what, offset, errno ? strerror(errno) : "read error");
  return 0;
}

/* A pointer to [OFFSET, OFFSET+LEN) of the in-memory first cluster. */
static const uint8_t *
hdr_bytes(struct parser *p, const char *what, uint64_t offset, uint64_t len)
{
  if (offset > p->hdr_len || len > p->hdr_len - offset) {
    /* hdr_len is the cluster size unless the file is shorter, and callers
     * stay within the cluster: this is the end of the file.
     */
    if (check_in_file(p, what, offset, len) == 0)
      fail(p->err, p->name, "%s at offset 0x%" PRIx64 " (%" PRIu64 " bytes) "
           "is outside the first cluster", what, offset, len);
    return NULL;
  }
  return p->hdr + offset;
}

/* QEMU's qcow2_validate_table(): size cap and offset sanity. */
static int
validate_table(struct parser *p, const char *what, uint64_t offset,
               uint64_t entries, uint64_t entry_len, uint64_t max_bytes)
{
  if (entries > max_bytes / entry_len)
    return fail(p->err, p->name, "%s too large (%" PRIu64 " entries)",
                what, entries);
  if ((uint64_t)INT64_MAX - entries * entry_len < offset ||
      offset % p->cluster_size != 0)
    return fail(p->err, p->name, "%s offset invalid (0x%" PRIx64 ")",
                what, offset);
  /* QEMU reads zeros past the end of the file: a table that does not fit
   * means a truncated image.  Not fatal for QEMU's open, so a note.
   */
  uint64_t bytes = entries * entry_len;
  if (entries > 0 &&
      (offset > p->src->size || bytes > p->src->size - offset))
    return note(p, "%s at offset 0x%" PRIx64 " (%" PRIu64 " bytes) extends "
                "past end of file (size %" PRIu64 "): the image is truncated",
                what, offset, bytes, p->src->size);
  return 0;
}

/* The name of bit BIT of feature TYPE from the feature name table, or NULL;
 * the result points into hdr and is not NUL terminated: *LEN is its length.
 */
static const char *
feature_name(struct parser *p, unsigned type, unsigned bit, size_t *len)
{
  for (size_t i = 0; i + FEATURE_ENTRY_SIZE <= p->feature_table_len;
       i += FEATURE_ENTRY_SIZE) {
    const uint8_t *e = p->feature_table + i;
    if (e[0] == type && e[1] == bit) {
      const char *n = (const char *)e + 2;
      const char *z = memchr(n, '\0', FEATURE_NAME_SIZE);
      *len = z ? (size_t)(z - n) : FEATURE_NAME_SIZE;
      return n;
    }
  }
  return NULL;
}

/* Note unknown incompatible feature bits, named from the feature table. */
static int
note_unknown_features(struct parser *p)
{
  uint64_t unknown = p->img->incompatible_features & ~VK_QCOW2_INCOMPAT_KNOWN;
  char buf[4096];
  size_t used = 0;

  if (!unknown)
    return 0;
  buf[0] = '\0';
  for (unsigned bit = 0; bit < 64; bit++) {
    if (!(unknown & (UINT64_C(1) << bit)))
      continue;
    size_t len = 0;
    const char *n = feature_name(p, 0, bit, &len);
    int r;
    if (n)
      r = snprintf(buf + used, sizeof buf - used, "%sbit %u '%.*s'",
                   used ? ", " : "", bit, (int)len, n);
    else
      r = snprintf(buf + used, sizeof buf - used, "%sbit %u",
                   used ? ", " : "", bit);
    if (r < 0 || (size_t)r >= sizeof buf - used)
      break;                    /* cannot happen: 59 * ~60 < 4096 */
    used += (size_t)r;
  }
  return note(p, "unknown incompatible features 0x%" PRIx64 " (%s): QEMU "
              "refuses to open this image", unknown, buf);
}

/* The bitmaps extension: validated as QEMU does; the directory is read
 * later (parse_bitmap_directory).
 */
static int
parse_bitmaps_ext(struct parser *p, const uint8_t *d, uint32_t len)
{
  struct vk_image *img = p->img;

  if (len != BITMAPS_EXT_SIZE)
    return fail(p->err, p->name, "bitmaps extension has length %" PRIu32
                ", expected %d", len, BITMAPS_EXT_SIZE);
  if (p->bitmaps_ext_seen && note(p, "duplicate bitmaps extension: the "
                                  "last one is used, as QEMU does") == -1)
    return -1;
  p->bitmaps_ext_seen = true;
  img->has_bitmaps_extension = true;
  p->nb_bitmaps = 0;
  img->bitmap_directory_offset = img->bitmap_directory_size = 0;

  if (!(img->autoclear_features & VK_QCOW2_AUTOCLEAR_BITMAPS)) {
    /* QEMU ignores the extension without reading it. */
    img->bitmaps_consistent = false;
    return 0;
  }
  img->bitmaps_consistent = true;

  uint32_t nb = be32(d);
  uint32_t reserved = be32(d + 4);
  uint64_t dir_size = be64(d + 8);
  uint64_t dir_offset = be64(d + 16);

  if (reserved != 0)
    return fail(p->err, p->name, "bitmaps extension: reserved field is not "
                "zero (0x%" PRIx32 ")", reserved);
  if (nb > VK_QCOW2_MAX_BITMAPS)
    return fail(p->err, p->name, "bitmaps extension: %" PRIu32 " bitmaps, "
                "more than the maximum of %d", nb, VK_QCOW2_MAX_BITMAPS);
  if (nb == 0)
    return fail(p->err, p->name, "bitmaps extension with zero bitmaps");
  if (dir_offset % p->cluster_size != 0)
    return fail(p->err, p->name, "bitmaps extension: bitmap directory offset "
                "0x%" PRIx64 " is not cluster aligned", dir_offset);
  if (dir_size > VK_QCOW2_MAX_BITMAP_DIRECTORY_SIZE)
    return fail(p->err, p->name, "bitmaps extension: bitmap directory size "
                "%" PRIu64 " exceeds the maximum of %d", dir_size,
                VK_QCOW2_MAX_BITMAP_DIRECTORY_SIZE);
  p->nb_bitmaps = nb;
  p->bitmap_dir_size = img->bitmap_directory_size = dir_size;
  p->bitmap_dir_offset = img->bitmap_directory_offset = dir_offset;
  return 0;
}

/* A string extension (backing format, data file name): no NUL inside. */
static int
string_ext(struct parser *p, const char *what, const uint8_t *d, uint32_t len,
           char **out)
{
  if (memchr(d, '\0', len))
    return fail(p->err, p->name, "%s extension contains a NUL byte", what);
  free(*out);
  *out = memdup_str(d, len);
  return *out ? 0 : oom(p);
}

/* Walk the header extensions between the header and ext_end. */
static int
parse_extensions(struct parser *p)
{
  struct vk_image *img = p->img;
  uint64_t off = p->header_length;

  while (off < p->ext_end) {
    if (p->ext_end - off < 8)
      return fail(p->err, p->name, "header extension at offset 0x%" PRIx64
                  " overlaps the end of the extension area (0x%" PRIx64 ")",
                  off, p->ext_end);
    const uint8_t *h = hdr_bytes(p, "header extension", off, 8);
    if (!h)
      return -1;
    uint32_t magic = be32(h);
    uint32_t len = be32(h + 4);
    off += 8;
    if (len > p->ext_end - off)
      return fail(p->err, p->name, "header extension 0x%08" PRIx32 " at "
                  "offset 0x%" PRIx64 ": length %" PRIu32 " goes past the "
                  "end of the extension area (0x%" PRIx64 ")",
                  magic, off - 8, len, p->ext_end);
    if (magic == EXT_END)
      return 0;
    const uint8_t *d = hdr_bytes(p, "header extension data", off, len);
    if (!d)
      return -1;

    switch (magic) {
    case EXT_BACKING_FORMAT:
      if (len >= BACKING_FORMAT_MAX)
        return fail(p->err, p->name, "backing format extension: length "
                    "%" PRIu32 " too large (>= %d)", len, BACKING_FORMAT_MAX);
      if (p->backing_format_seen &&
          note(p, "duplicate backing format extension: the last one is "
               "used, as QEMU does") == -1)
        return -1;
      p->backing_format_seen = true;
      if (string_ext(p, "backing format", d, len, &img->backing_format) == -1)
        return -1;
      break;

    case EXT_FEATURE_TABLE:
      if (p->feature_table_seen &&
          note(p, "duplicate feature name table extension") == -1)
        return -1;
      p->feature_table_seen = true;
      p->feature_table = d;
      p->feature_table_len = len;
      break;

    case EXT_CRYPTO_HEADER:
      if (img->crypt_method != 2)
        return fail(p->err, p->name, "encryption header extension is only "
                    "expected with LUKS encryption");
      if (len != 16)
        return fail(p->err, p->name, "encryption header extension has "
                    "length %" PRIu32 ", expected 16", len);
      if (be64(d) % p->cluster_size != 0)
        return fail(p->err, p->name, "encryption header offset 0x%" PRIx64
                    " is not cluster aligned", be64(d));
      if (p->crypto_seen &&
          note(p, "duplicate encryption header extension") == -1)
        return -1;
      p->crypto_seen = true;
      break;

    case EXT_BITMAPS:
      if (parse_bitmaps_ext(p, d, len) == -1)
        return -1;
      break;

    case EXT_DATA_FILE:
      if (p->data_file_seen &&
          note(p, "duplicate external data file extension: the last one is "
               "used, as QEMU does") == -1)
        return -1;
      p->data_file_seen = true;
      if (string_ext(p, "external data file", d, len, &img->data_file) == -1)
        return -1;
      break;

    default:
      break;                    /* unknown extensions are ignored */
    }
    off += round8(len);
  }
  return 0;
}

/* qsort order of bitmap pointers: by name, then by position. */
static int
cmp_bitmap_name(const void *a, const void *b)
{
  const struct vk_bitmap *const *x = a, *const *y = b;
  int r = strcmp((*x)->name, (*y)->name);
  if (r)
    return r;
  return (*x < *y) ? -1 : (*x > *y);   /* stable: lower index first */
}

/* Set bm->problem (keeping the first one); -1 only when out of memory. */
static int problem(struct parser *p, struct vk_bitmap *bm, const char *f, ...)
  __attribute__((format(printf, 3, 4)));
static int
problem(struct parser *p, struct vk_bitmap *bm, const char *f, ...)
{
  if (bm->problem)
    return 0;
  va_list ap;
  va_start(ap, f);
  bm->problem = vfmt(f, ap);
  va_end(ap);
  return bm->problem ? 0 : oom(p);
}

/* QEMU's check_dir_entry() and its extra data test, as problems. */
static int
check_bitmap(struct parser *p, struct vk_bitmap *bm)
{
  uint64_t cs = p->cluster_size;
  uint64_t len = p->img->virtual_size;   /* whole sectors, as QEMU's */

  if (bm->extra_data_size != 0)
    return problem(p, bm, "has %" PRIu32 " bytes of extra data, which QEMU "
                   "does not support", bm->extra_data_size);
  if (bm->type != VK_BME_TYPE_DIRTY_TRACKING)
    return problem(p, bm, "has type %u, not 1 (dirty tracking)", bm->type);
  if (bm->flags & ~BME_KNOWN_FLAGS)
    return problem(p, bm, "has reserved flags set (0x%" PRIx32 ")",
                   bm->flags & ~BME_KNOWN_FLAGS);
  if (bm->granularity_bits < BME_MIN_GRANULARITY_BITS ||
      bm->granularity_bits > BME_MAX_GRANULARITY_BITS)
    return problem(p, bm, "has granularity bits %" PRIu32 ", outside "
                   "%d..%d", bm->granularity_bits, BME_MIN_GRANULARITY_BITS,
                   BME_MAX_GRANULARITY_BITS);
  if (bm->table_size == 0 || bm->table_offset == 0)
    return problem(p, bm, "has no bitmap table");
  if (bm->table_offset % cs != 0)
    return problem(p, bm, "bitmap table offset 0x%" PRIx64 " is not cluster "
                   "aligned", bm->table_offset);
  if (bm->table_size > BME_MAX_TABLE_SIZE)
    return problem(p, bm, "bitmap table has %" PRIu32 " entries, more than "
                   "%" PRIu32, bm->table_size, BME_MAX_TABLE_SIZE);
  uint64_t phys = (uint64_t)bm->table_size * cs;   /* < 2^27 * 2^21 */
  if (phys > BME_MAX_PHYS_SIZE)
    return problem(p, bm, "bitmap data would take %" PRIu64 " bytes, more "
                   "than %" PRIu64, phys, BME_MAX_PHYS_SIZE);
  /* phys <= 2^29, so (phys * 8) << 31 <= 2^63: no overflow */
  if (!bm->in_use && len > ((phys * 8) << bm->granularity_bits))
    return problem(p, bm, "bitmap table (%" PRIu32 " entries) is too small "
                   "for the virtual size", bm->table_size);
  if (bm->table_offset > p->src->size ||
      (uint64_t)bm->table_size * 8 > p->src->size - bm->table_offset)
    return problem(p, bm, "bitmap table at offset 0x%" PRIx64 " (%" PRIu64
                   " bytes) extends past end of file (size %" PRIu64 ")",
                   bm->table_offset, (uint64_t)bm->table_size * 8,
                   p->src->size);
  return 0;
}

/* Read and check the bitmap directory (QEMU's bitmap_list_load()). */
static int
parse_bitmap_directory(struct parser *p)
{
  struct vk_image *img = p->img;
  uint64_t size = p->bitmap_dir_size, offset = p->bitmap_dir_offset;
  uint32_t nb = p->nb_bitmaps;
  uint8_t *dir = NULL;
  struct vk_bitmap **sorted = NULL;
  int ret = -1;

  if (size == 0)
    return fail(p->err, p->name, "bitmap directory size is zero");
  /* Caps first, then the file: only then allocate. */
  if (check_in_file(p, "bitmap directory", offset, size) == -1)
    return -1;
  if (nb > size / BME_MIN_ENTRY_SIZE)
    return fail(p->err, p->name, "bitmap directory (%" PRIu64 " bytes) is "
                "too small for %" PRIu32 " bitmaps", size, nb);

  dir = malloc(size);           /* <= 64 MiB and <= the file size */
  img->bitmaps = calloc(nb, sizeof *img->bitmaps);   /* <= 65535 */
  if (!dir || !img->bitmaps) {
    oom(p);
    goto out;
  }
  if (read_at(p, "bitmap directory", dir, size, offset) == -1)
    goto out;

  uint64_t pos = 0;
  uint32_t n = 0;
  while (pos < size) {
    const uint8_t *e = dir + pos;
    if (size - pos < BME_ENTRY_HEADER_SIZE) {
      fail(p->err, p->name, "bitmap directory at offset 0x%" PRIx64 ": entry "
           "%" PRIu32 " is truncated (%" PRIu64 " bytes left)", offset, n,
           size - pos);
      goto out;
    }
    if (n >= nb) {
      fail(p->err, p->name, "bitmap directory at offset 0x%" PRIx64 " has "
           "more entries than the %" PRIu32 " the bitmaps extension "
           "declares", offset, nb);
      goto out;
    }
    struct vk_bitmap *bm = &img->bitmaps[n];
    bm->table_offset = be64(e);
    bm->table_size = be32(e + 8);
    bm->flags = be32(e + 12);
    bm->type = e[16];
    bm->granularity_bits = e[17];
    uint16_t name_size = be16(e + 18);
    bm->extra_data_size = be32(e + 20);
    bm->in_use = bm->flags & VK_BME_FLAG_IN_USE;
    bm->enabled = bm->flags & VK_BME_FLAG_AUTO;
    bm->extra_data_compatible = bm->flags & VK_BME_FLAG_EXTRA_DATA_COMPATIBLE;
    n++;
    img->nr_bitmaps = n;

    uint64_t esize = round8((uint64_t)BME_ENTRY_HEADER_SIZE + name_size +
                            bm->extra_data_size);
    if (esize > size - pos) {
      fail(p->err, p->name, "bitmap directory at offset 0x%" PRIx64 ": entry "
           "%" PRIu32 " (%" PRIu64 " bytes) extends past the end of the "
           "directory (%" PRIu64 " bytes)", offset, n - 1, esize, size);
      goto out;
    }
    if (name_size == 0 || name_size > VK_BME_MAX_NAME_SIZE) {
      fail(p->err, p->name, "bitmap directory entry %" PRIu32 ": name size "
           "%" PRIu16 " is outside 1..%d", n - 1, name_size,
           VK_BME_MAX_NAME_SIZE);
      goto out;
    }
    const uint8_t *nm = e + BME_ENTRY_HEADER_SIZE + bm->extra_data_size;
    if (memchr(nm, '\0', name_size)) {
      fail(p->err, p->name, "bitmap directory entry %" PRIu32 ": name "
           "contains a NUL byte", n - 1);
      goto out;
    }
    bm->name = memdup_str(nm, name_size);
    if (!bm->name) {
      oom(p);
      goto out;
    }
    if (check_bitmap(p, bm) == -1)
      goto out;
    pos += esize;
  }
  if (n != nb) {
    fail(p->err, p->name, "bitmap directory at offset 0x%" PRIx64 " has %"
         PRIu32 " entries, fewer than the %" PRIu32 " the bitmaps extension "
         "declares", offset, n, nb);
    goto out;
  }

  /* Names must be unique: QEMU fails to load a second bitmap of a name. */
  sorted = malloc(n * sizeof *sorted);
  if (!sorted) {
    oom(p);
    goto out;
  }
  for (uint32_t i = 0; i < n; i++)
    sorted[i] = &img->bitmaps[i];
  qsort(sorted, n, sizeof *sorted, cmp_bitmap_name);
  for (uint32_t i = 1; i < n; i++)
    if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0 &&
        problem(p, sorted[i], "has the same name as bitmap %zu",
                (size_t)(sorted[i - 1] - img->bitmaps)) == -1)
      goto out;
  ret = 0;

 out:
  free(sorted);
  free(dir);
  return ret;
}

/* Parse a qcow2 image: header, extensions, backing name, bitmaps. */
static int
parse_qcow2(struct parser *p)
{
  struct vk_image *img = p->img;
  uint64_t fsize = p->src->size;
  uint8_t h[QCOW2_V3_HEADER_LENGTH];

  if (fsize < QCOW2_V2_HEADER_LENGTH)
    return fail(p->err, p->name, "truncated qcow2 header: the file has %"
                PRIu64 " bytes, a header needs at least %d", fsize,
                QCOW2_V2_HEADER_LENGTH);
  memset(h, 0, sizeof h);
  if (read_at(p, "qcow2 header", h, fsize < sizeof h ? (size_t)fsize :
              sizeof h, 0) == -1)
    return -1;

  if (be32(h) != QCOW2_MAGIC)
    return fail(p->err, p->name, "not a qcow2 image (no QFI\\xfb magic)");
  uint32_t version = be32(h + 4);
  if (version < 2 || version > 3)
    return fail(p->err, p->name, "unsupported qcow2 version %" PRIu32,
                version);
  img->version = (int)version;
  uint32_t cluster_bits = be32(h + 20);
  if (cluster_bits < VK_QCOW2_MIN_CLUSTER_BITS ||
      cluster_bits > VK_QCOW2_MAX_CLUSTER_BITS)
    return fail(p->err, p->name, "unsupported cluster size: 2^%" PRIu32
                " (cluster_bits must be %d..%d)", cluster_bits,
                VK_QCOW2_MIN_CLUSTER_BITS, VK_QCOW2_MAX_CLUSTER_BITS);
  img->cluster_bits = cluster_bits;
  p->cluster_size = UINT32_C(1) << cluster_bits;

  uint64_t backing_file_offset = be64(h + 8);
  uint32_t backing_file_size = be32(h + 16);
  uint64_t header_size = be64(h + 24);
  img->virtual_size = header_size & ~UINT64_C(511);    /* as QEMU counts */
  img->crypt_method = be32(h + 32);
  uint32_t l1_size = be32(h + 36);
  uint64_t l1_table_offset = be64(h + 40);
  uint64_t refcount_table_offset = be64(h + 48);
  uint32_t refcount_table_clusters = be32(h + 56);
  img->nb_snapshots = be32(h + 60);
  uint64_t snapshots_offset = be64(h + 64);

  if (version == 2) {
    img->refcount_order = 4;
    p->header_length = QCOW2_V2_HEADER_LENGTH;
  } else {
    if (fsize < QCOW2_V3_HEADER_LENGTH)
      return fail(p->err, p->name, "truncated qcow2 version 3 header: the "
                  "file has %" PRIu64 " bytes, the header needs at least %d",
                  fsize, QCOW2_V3_HEADER_LENGTH);
    img->incompatible_features = be64(h + 72);
    img->compatible_features = be64(h + 80);
    img->autoclear_features = be64(h + 88);
    img->refcount_order = be32(h + 96);
    p->header_length = be32(h + 100);
    if (p->header_length < QCOW2_V3_HEADER_LENGTH)
      return fail(p->err, p->name, "qcow2 header too short (header_length "
                  "%" PRIu32 " < %d)", p->header_length,
                  QCOW2_V3_HEADER_LENGTH);
  }
  if (p->header_length > p->cluster_size)
    return fail(p->err, p->name, "qcow2 header (%" PRIu32 " bytes) exceeds "
                "the cluster size (%" PRIu32 ")", p->header_length,
                p->cluster_size);

  /* Now the whole first cluster, or what the file has of it. */
  p->hdr_len = fsize < p->cluster_size ? (size_t)fsize : p->cluster_size;
  p->hdr = malloc(p->hdr_len);  /* <= 2 MiB */
  if (!p->hdr)
    return oom(p);
  if (read_at(p, "first cluster", p->hdr, p->hdr_len, 0) == -1)
    return -1;
  if (p->header_length > p->hdr_len)
    return fail(p->err, p->name, "truncated qcow2 header: header_length is "
                "%" PRIu32 " but the file has %" PRIu64 " bytes",
                p->header_length, fsize);

  if (backing_file_offset > p->cluster_size)
    return fail(p->err, p->name, "invalid backing file offset 0x%" PRIx64
                " (beyond the first cluster)", backing_file_offset);
  p->ext_end = backing_file_offset ? backing_file_offset : p->cluster_size;

  img->dirty = img->incompatible_features & VK_QCOW2_INCOMPAT_DIRTY;
  img->corrupt = img->incompatible_features & VK_QCOW2_INCOMPAT_CORRUPT;
  img->extended_l2 = img->incompatible_features & VK_QCOW2_INCOMPAT_EXTL2;

  /* Compression type (QEMU's validate_compression_type()). */
  if (p->header_length > QCOW2_COMPRESSION_TYPE_OFFSET)
    img->compression_type = p->hdr[QCOW2_COMPRESSION_TYPE_OFFSET];
  if (img->compression_type > 1)
    return fail(p->err, p->name, "unknown compression type %" PRIu32,
                img->compression_type);
  if ((img->compression_type != 0) !=
      !!(img->incompatible_features & VK_QCOW2_INCOMPAT_COMPRESSION))
    return fail(p->err, p->name, "compression type %" PRIu32 " does not "
                "match the compression type feature bit",
                img->compression_type);

  if (img->extended_l2 && cluster_bits < 14)
    return fail(p->err, p->name, "unsupported subcluster size: %" PRIu32
                " (extended L2 entries need 16 KiB clusters or larger)",
                p->cluster_size / 32);
  if (img->refcount_order > 6)
    return fail(p->err, p->name, "refcount order %" PRIu32 " too large "
                "(refcounts may not exceed 64 bits)", img->refcount_order);
  if (img->crypt_method > 2)
    return fail(p->err, p->name, "unsupported encryption method %" PRIu32,
                img->crypt_method);
  if (refcount_table_clusters == 0)
    return fail(p->err, p->name, "image does not contain a reference count "
                "table");
  if (validate_table(p, "reference count table", refcount_table_offset,
                     refcount_table_clusters, p->cluster_size,
                     QCOW_MAX_REFTABLE_SIZE) == -1 ||
      validate_table(p, "snapshot table", snapshots_offset,
                     img->nb_snapshots, QCOW_SNAPSHOT_HEADER_SIZE,
                     QCOW_SNAPSHOT_HEADER_SIZE * QCOW_MAX_SNAPSHOTS) == -1 ||
      validate_table(p, "active L1 table", l1_table_offset, l1_size, 8,
                     QCOW_MAX_L1_SIZE) == -1)
    return -1;
  img->l1_table_offset = l1_table_offset;
  img->l1_size = l1_size;

  /* The L1 table must cover the virtual size (QEMU's size_to_l1()). */
  unsigned shift = cluster_bits + cluster_bits - (img->extended_l2 ? 4 : 3);
  uint64_t l1_needed = (header_size >> shift) +
    ((header_size & ((UINT64_C(1) << shift) - 1)) != 0);
  if (l1_needed > INT32_MAX)
    return fail(p->err, p->name, "image is too big (virtual size %" PRIu64
                ")", header_size);
  if (l1_size < l1_needed)
    return fail(p->err, p->name, "L1 table is too small (%" PRIu32 " entries"
                " for a virtual size of %" PRIu64 ")", l1_size,
                header_size);

  if (parse_extensions(p) == -1)
    return -1;

  /* Backing file name: within the first cluster, after the extensions. */
  if (backing_file_offset != 0) {
    uint64_t room = p->cluster_size - backing_file_offset;
    if (backing_file_size > VK_QCOW2_MAX_BACKING_NAME ||
        backing_file_size > room)
      return fail(p->err, p->name, "backing file name too long (%" PRIu32
                  " bytes at offset 0x%" PRIx64 ")", backing_file_size,
                  backing_file_offset);
    const uint8_t *b = hdr_bytes(p, "backing file name", backing_file_offset,
                                 backing_file_size);
    if (!b)
      return -1;
    if (memchr(b, '\0', backing_file_size))
      return fail(p->err, p->name, "backing file name contains a NUL byte");
    if (backing_file_size == 0) {
      if (note(p, "backing file offset is set but the name is empty: no "
               "backing file") == -1)
        return -1;
    } else if (!(img->backing_file = memdup_str(b, backing_file_size)))
      return oom(p);
  }

  if (note_unknown_features(p) == -1)
    return -1;
  if (img->crypt_method != 0 &&
      note(p, "the image is encrypted (%s)",
           img->crypt_method == 1 ? "AES" : "LUKS") == -1)
    return -1;
  if (img->incompatible_features & VK_QCOW2_INCOMPAT_DATA_FILE) {
    if (note(p, "guest data is in an external data file%s%s%s",
             img->data_file ? " '" : " (name not recorded in the image)",
             img->data_file ? img->data_file : "",
             img->data_file ? "'" : "") == -1)
      return -1;
  } else if (img->data_file &&
             note(p, "an external data file name is recorded but the "
                  "external data file feature is off: QEMU ignores it") == -1)
    return -1;
  if (p->bitmaps_ext_seen && !img->bitmaps_consistent &&
      note(p, "bitmaps extension is present but the bitmaps autoclear bit "
           "is clear: a program without bitmap support modified the image, "
           "so QEMU considers all its bitmaps inconsistent and drops them")
      == -1)
    return -1;
  if (!p->bitmaps_ext_seen &&
      (img->autoclear_features & VK_QCOW2_AUTOCLEAR_BITMAPS) &&
      note(p, "the bitmaps autoclear bit is set but there is no bitmaps "
           "extension") == -1)
    return -1;

  if (p->nb_bitmaps > 0 && parse_bitmap_directory(p) == -1)
    return -1;
  return 0;
}

/* Probe the format from the first bytes, like QEMU's probes (qcow2, a few
 * others by their magic, raw otherwise).  Returns the format name.
 */
static const char *
probe(const uint8_t *b, size_t len)
{
  static const struct {
    size_t off;
    const char *magic;
    size_t magic_len;
    const char *name;
  } magics[] = {
    { 0, "QED\0", 4, "qed" },
    { 0, "KDMV", 4, "vmdk" },
    { 0, "COWD", 4, "vmdk" },
    { 0, "# Disk DescriptorFile", 21, "vmdk" },
    { 0, "conectix", 8, "vpc" },
    { 0, "vhdxfile", 8, "vhdx" },
    { 0, "LUKS\xba\xbe", 6, "luks" },
    { 0x40, "\x7f\x10\xda\xbe", 4, "vdi" },
    { 0, "WithoutFreeSpace", 16, "parallels" },
    { 0, "WithouFreSpacExt", 16, "parallels" },
    { 0, "Bochs Virtual HD Image", 22, "bochs" },
  };

  if (len >= 4 && be32(b) == QCOW2_MAGIC) {
    /* qcow (v1) shares the magic; anything else is qcow2, even if short
     * (then the qcow2 parser reports the truncation).
     */
    if (len >= 8 && be32(b + 4) < 2)
      return "qcow";
    return "qcow2";
  }
  for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++)
    if (len >= magics[i].off + magics[i].magic_len &&
        memcmp(b + magics[i].off, magics[i].magic, magics[i].magic_len) == 0)
      return magics[i].name;
  return "raw";
}

int
vk_image_parse(const struct vk_source *src, const char *name_for_errors,
               const char *format_hint, struct vk_image *img, char **err)
{
  struct parser p = { .src = src, .name = name_for_errors, .img = img,
                      .err = err };
  const char *format = format_hint;
  int ret = -1;

  memset(img, 0, sizeof *img);
  if (err)
    *err = NULL;
  img->file_size = src->size;
  img->bitmaps_consistent = true;
  img->filename = memdup_str(name_for_errors, strlen(name_for_errors));
  if (!img->filename) {
    oom(&p);
    goto out;
  }

  uint8_t head[PROBE_SIZE];
  size_t head_len = src->size < sizeof head ? (size_t)src->size : sizeof head;
  if (read_at(&p, "image header", head, head_len, 0) == -1)
    goto out;
  if (!format) {
    format = probe(head, head_len);
    img->format_probed = true;
  }
  img->format_name = memdup_str(format, strlen(format));
  if (!img->format_name) {
    oom(&p);
    goto out;
  }

  if (strcmp(format, "qcow2") == 0) {
    img->format = VK_FMT_QCOW2;
    ret = parse_qcow2(&p);
  } else if (strcmp(format, "raw") == 0) {
    img->format = VK_FMT_RAW;
    /* QEMU counts whole sectors: the partial last one reads as zeros. */
    img->virtual_size = src->size > UINT64_MAX - 511 ? src->size :
      (src->size + 511) & ~UINT64_C(511);
    ret = 0;
    if (head_len >= 4 && be32(head) == QCOW2_MAGIC && !img->format_probed)
      ret = note(&p, "the image is used as raw but begins with a qcow2 "
                 "header");
  } else {
    img->format = VK_FMT_OTHER;
    ret = 0;
  }

 out:
  free(p.hdr);
  if (ret == -1)
    vk_image_clear(img);
  return ret;
}

/* ---------------------------------------------------------------------- */
/* Data clusters. */

#define L1E_OFFSET_MASK UINT64_C(0x00fffffffffffe00)
#define L2E_OFFSET_MASK UINT64_C(0x00fffffffffffe00)
#define L2E_COMPRESSED (UINT64_C(1) << 62)
#define L2E_ZERO UINT64_C(1)

/* The number of bits set in X. */
static unsigned
popcount32(uint32_t x)
{
  unsigned n = 0;
  for (; x; x &= x - 1)
    n++;
  return n;
}

int
vk_image_data_bytes(const struct vk_source *src, const struct vk_image *img,
                    uint64_t *data, uint64_t *compressed, char **err)
{
  struct parser p = { .src = src, .name = img->filename, .img = NULL,
                      .err = err };
  *data = 0;
  *compressed = 0;
  if (err)
    *err = NULL;
  if (img->format != VK_FMT_QCOW2 || img->cluster_bits < VK_QCOW2_MIN_CLUSTER_BITS ||
      img->cluster_bits > VK_QCOW2_MAX_CLUSTER_BITS)
    return fail(err, img->filename, "not a qcow2 image");
  p.cluster_size = UINT32_C(1) << img->cluster_bits;
  uint64_t csize = p.cluster_size;
  size_t entry_len = img->extended_l2 ? 16 : 8;
  uint64_t per_l2 = csize / entry_len;
  /* Only the L1 entries that cover the virtual size. */
  uint64_t span = per_l2 * csize;
  uint64_t l1_used = img->virtual_size / span + (img->virtual_size % span != 0);
  if (l1_used > img->l1_size)
    l1_used = img->l1_size;
  uint8_t *l2 = malloc(p.cluster_size);     /* <= 2 MiB */
  if (!l2)
    return oom(&p);
  int ret = 0;
  uint8_t e1[8];
  for (uint64_t i = 0; i < l1_used && ret == 0; i++) {
    ret = read_at(&p, "L1 table", e1, 8, img->l1_table_offset + i * 8);
    uint64_t l2_offset = be64(e1) & L1E_OFFSET_MASK;
    if (ret == -1 || l2_offset == 0)
      continue;
    if (l2_offset % csize != 0) {
      ret = fail(err, img->filename, "L2 table offset 0x%" PRIx64 " is not "
                 "aligned to a cluster", l2_offset);
      break;
    }
    ret = read_at(&p, "L2 table", l2, p.cluster_size, l2_offset);
    for (uint64_t j = 0; j < per_l2 && ret == 0; j++) {
      uint64_t guest = (i * per_l2 + j) * csize;
      if (guest >= img->virtual_size)
        break;
      uint64_t room = img->virtual_size - guest;
      uint64_t e = be64(l2 + j * entry_len);
      uint64_t bytes = 0;
      if (e & L2E_COMPRESSED) {
        bytes = csize;
        (*compressed)++;
      } else if (!(e & L2E_OFFSET_MASK)) {
        bytes = 0;              /* unallocated, or zero without a cluster */
      } else if (img->extended_l2) {
        uint64_t bitmap = be64(l2 + j * entry_len + 8);
        uint32_t alloc = (uint32_t)bitmap, zero = (uint32_t)(bitmap >> 32);
        bytes = popcount32(alloc & ~zero) * (csize / 32);
      } else if (!(e & L2E_ZERO)) {
        bytes = csize;
      }
      *data += bytes < room ? bytes : room;
    }
  }
  free(l2);
  return ret;
}

/* ---------------------------------------------------------------------- */
/* Files. */

struct fd_source {
  int fd;
};

/* vk_source.pread for a file descriptor: full reads, EINTR retried. */
static int
fd_pread(void *opaque, void *buf, size_t count, uint64_t offset)
{
  struct fd_source *s = opaque;
  size_t done = 0;

  while (done < count) {
    ssize_t r = pread(s->fd, (char *)buf + done, count - done,
                      (off_t)(offset + done));
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1)
      return -1;
    if (r == 0) {               /* the file got shorter under us */
      errno = EIO;
      return -1;
    }
    done += (size_t)r;
  }
  return 0;
}

/* Open PATH for reading: regular files and block devices only.  Returns the
 * fd, or -1 with *err set and *err_errno the errno of open (0 otherwise).
 */
static int
open_file(const char *path, struct stat *st, uint64_t *size, int *err_errno,
          char **err)
{
  /* O_NONBLOCK: never hang on a FIFO; no effect on files and disks. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  *err_errno = 0;
  if (fd == -1) {
    *err_errno = errno;
    return fail(err, path, "%s", strerror(errno));
  }
  if (fstat(fd, st) == -1) {
    fail(err, path, "fstat: %s", strerror(errno));
    goto fail;
  }
  if (S_ISREG(st->st_mode)) {
    *size = (uint64_t)st->st_size;
  } else if (S_ISBLK(st->st_mode)) {
    off_t end = lseek(fd, 0, SEEK_END);
    if (end == -1) {
      fail(err, path, "lseek: %s", strerror(errno));
      goto fail;
    }
    *size = (uint64_t)end;
  } else {
    fail(err, path, "not a regular file or block device (%s)",
         S_ISFIFO(st->st_mode) ? "a FIFO" : S_ISDIR(st->st_mode) ? "a directory" :
         S_ISCHR(st->st_mode) ? "a character device" :
         S_ISSOCK(st->st_mode) ? "a socket" : "an unknown file type");
    goto fail;
  }
  return fd;

 fail:
  close(fd);
  return -1;
}

/* Parse the open file FD of SIZE bytes as image PATH. */
static int
parse_fd(int fd, uint64_t size, const char *path, const char *format_hint,
         struct vk_image *img, char **err)
{
  struct fd_source s = { .fd = fd };
  struct vk_source src = { .opaque = &s, .size = size, .pread = fd_pread };
  return vk_image_parse(&src, path, format_hint, img, err);
}

int
vk_image_open(const char *path, const char *format_hint,
              struct vk_image *img, char **err)
{
  struct stat st;
  uint64_t size = 0;
  int eno = 0;

  memset(img, 0, sizeof *img);
  if (err)
    *err = NULL;
  int fd = open_file(path, &st, &size, &eno, err);
  if (fd == -1) {
    errno = eno ? eno : EINVAL;
    return -1;
  }
  int r = parse_fd(fd, size, path, format_hint, img, err);
  close(fd);
  if (r == -1)
    errno = err && !*err ? ENOMEM : EINVAL;
  return r;
}

/* ---------------------------------------------------------------------- */
/* Chains. */

bool
vk_path_has_protocol(const char *name)
{
  return name[strcspn(name, ":/")] == ':';
}

char *
vk_resolve_backing_path(const char *backed, const char *backing)
{
  if (backing[0] == '/' || vk_path_has_protocol(backing))
    return memdup_str(backing, strlen(backing));

  /* QEMU's path_combine(): keep BACKED up to its last '/' (or up to its
   * "protocol:" prefix), then append BACKING.
   */
  const char *p = backed;
  if (vk_path_has_protocol(backed))
    p = strchr(backed, ':') + 1;
  const char *slash = strrchr(backed, '/');
  if (slash && slash + 1 > p)
    p = slash + 1;
  size_t dirlen = (size_t)(p - backed), blen = strlen(backing);
  char *r = malloc(dirlen + blen + 1);
  if (r) {
    memcpy(r, backed, dirlen);
    memcpy(r + dirlen, backing, blen + 1);
  }
  return r;
}

/* MSG without a leading "PATH: " (the chain's end_path says it already). */
static const char *
strip_path(const char *msg, const char *path)
{
  size_t n = strlen(path);
  if (msg && strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
    return msg + n + 2;
  return msg;
}

/* Record how the chain ended; -1 with *err when out of memory. */
static int end_chain(struct vk_chain *c, enum vk_chain_end end,
                     const char *path, char **err, const char *f, ...)
  __attribute__((format(printf, 5, 6)));
static int
end_chain(struct vk_chain *c, enum vk_chain_end end, const char *path,
          char **err, const char *f, ...)
{
  c->end = end;
  if (path && !(c->end_path = memdup_str(path, strlen(path))))
    return fail(err, "vk_chain_open", "out of memory");
  if (f) {
    va_list ap;
    va_start(ap, f);
    c->end_detail = vfmt(f, ap);
    va_end(ap);
    if (!c->end_detail)
      return fail(err, "vk_chain_open", "out of memory");
  }
  return 0;
}

int
vk_chain_open(const char *top, const char *format_hint,
              struct vk_chain *chain, char **err)
{
  struct vk_image img;
  struct stat st, *ids = NULL;  /* ids[i]: device and inode of images[i] */
  size_t alloc = 0;
  uint64_t size = 0;
  char *path = NULL, *e = NULL;
  int eno = 0, ret = -1, fail_errno = ENOMEM;
  const char *hint = format_hint, *open_path = top;

  memset(chain, 0, sizeof *chain);
  if (err)
    *err = NULL;

  for (;;) {
    /* Open the next image and check it is not one we have read already. */
    int fd = open_file(open_path, &st, &size, &eno, &e);
    if (fd == -1) {
      if (chain->nr_images == 0)
        goto top_failed;
      ret = end_chain(chain, eno == ENOENT || eno == ENOTDIR ?
                      VK_CHAIN_MISSING : VK_CHAIN_ERROR, open_path, err,
                      "%s", e ? strip_path(e, open_path) : "out of memory");
      goto out;
    }
    for (size_t i = 0; i < chain->nr_images; i++)
      if (ids[i].st_dev == st.st_dev && ids[i].st_ino == st.st_ino) {
        close(fd);
        chain->loop_index = i;
        ret = end_chain(chain, VK_CHAIN_LOOP, open_path, err,
                        "backing file '%s' is image %zu of the chain "
                        "('%s'): the chain is a loop", open_path, i,
                        chain->images[i].filename);
        goto out;
      }
    int r = parse_fd(fd, size, open_path, hint, &img, &e);
    close(fd);
    if (r == -1) {
      if (chain->nr_images == 0)
        goto top_failed;
      ret = end_chain(chain, VK_CHAIN_ERROR, open_path, err, "%s",
                      e ? strip_path(e, open_path) : "out of memory");
      goto out;
    }

    if (chain->nr_images == alloc) {
      size_t n = alloc ? alloc * 2 : 4;
      struct vk_image *imgs = realloc(chain->images, n * sizeof *imgs);
      if (imgs)
        chain->images = imgs;
      struct stat *nids = realloc(ids, n * sizeof *nids);
      if (nids)
        ids = nids;
      if (!imgs || !nids) {
        vk_image_clear(&img);
        fail(err, top, "out of memory");
        goto out;
      }
      alloc = n;
    }
    ids[chain->nr_images] = st;
    chain->images[chain->nr_images++] = img;
    free(path);
    path = NULL;
    free(e);
    e = NULL;

    /* Where does it lead? */
    const struct vk_image *cur = &chain->images[chain->nr_images - 1];
    const char *b = cur->backing_file;
    if (cur->format == VK_FMT_OTHER) {
      ret = end_chain(chain, VK_CHAIN_UNSUPPORTED, NULL, err,
                      "'%s' is a %s image, which is not inspected: its "
                      "backing files (if any) are unknown", cur->filename,
                      cur->format_name);
      goto out;
    }
    if (!b) {
      ret = end_chain(chain, VK_CHAIN_COMPLETE, NULL, err, NULL);
      goto out;
    }
    if (strncmp(b, "json:", 5) == 0) {
      ret = end_chain(chain, VK_CHAIN_UNSUPPORTED, b, err,
                      "backing file of '%s' is a json: pseudo-protocol "
                      "name, which is not followed", cur->filename);
      goto out;
    }
    if (vk_path_has_protocol(b) && strncmp(b, "file:", 5) != 0) {
      ret = end_chain(chain, VK_CHAIN_UNSUPPORTED, b, err,
                      "backing file of '%s' uses protocol '%.*s', which is "
                      "not followed", cur->filename,
                      (int)strcspn(b, ":"), b);
      goto out;
    }
    if (chain->nr_images >= VK_CHAIN_MAX_DEPTH) {
      ret = end_chain(chain, VK_CHAIN_TOO_DEEP, b, err,
                      "backing chain is longer than %d images",
                      VK_CHAIN_MAX_DEPTH);
      goto out;
    }
    /* "file:NAME" is the file protocol: QEMU opens NAME as it is, relative
     * to its working directory, not to the image's.
     */
    if (strncmp(b, "file:", 5) == 0)
      path = memdup_str(b + 5, strlen(b + 5));
    else
      path = vk_resolve_backing_path(cur->filename, b);
    if (!path) {
      fail(err, top, "out of memory");
      goto out;
    }
    open_path = path;
    hint = cur->backing_format;
  }

 top_failed:
  fail_errno = eno ? eno : e ? EINVAL : ENOMEM;
  if (err) {
    *err = e;                   /* NULL only if memory ran out */
    e = NULL;
  }
  ret = -1;
 out:
  if (ret == -1)
    vk_chain_clear(chain);
  free(ids);
  free(path);
  free(e);
  if (ret == -1)
    errno = fail_errno;         /* last: nothing above may change it */
  return ret;
}

void
vk_image_clear(struct vk_image *img)
{
  if (!img)
    return;
  free(img->filename);
  free(img->format_name);
  free(img->backing_file);
  free(img->backing_format);
  free(img->data_file);
  for (size_t i = 0; i < img->nr_bitmaps; i++) {
    free(img->bitmaps[i].name);
    free(img->bitmaps[i].problem);
  }
  free(img->bitmaps);
  for (size_t i = 0; i < img->nr_notes; i++)
    free(img->notes[i]);
  free(img->notes);
  memset(img, 0, sizeof *img);
}

void
vk_chain_clear(struct vk_chain *chain)
{
  if (!chain)
    return;
  for (size_t i = 0; i < chain->nr_images; i++)
    vk_image_clear(&chain->images[i]);
  free(chain->images);
  free(chain->end_path);
  free(chain->end_detail);
  memset(chain, 0, sizeof *chain);
}

void
vk_cleanup_image(void *ptr)
{
  vk_image_clear(ptr);
}

void
vk_cleanup_chain(void *ptr)
{
  vk_chain_clear(ptr);
}

const struct vk_bitmap *
vk_image_find_bitmap(const struct vk_image *img, const char *name)
{
  for (size_t i = 0; i < img->nr_bitmaps; i++)
    if (img->bitmaps[i].name && strcmp(img->bitmaps[i].name, name) == 0)
      return &img->bitmaps[i];
  return NULL;
}

const char *
vk_chain_end_name(enum vk_chain_end end)
{
  switch (end) {
  case VK_CHAIN_COMPLETE: return "complete";
  case VK_CHAIN_MISSING: return "missing";
  case VK_CHAIN_LOOP: return "loop";
  case VK_CHAIN_UNSUPPORTED: return "unsupported";
  case VK_CHAIN_TOO_DEEP: return "too-deep";
  case VK_CHAIN_ERROR: return "error";
  }
  return "unknown";
}
