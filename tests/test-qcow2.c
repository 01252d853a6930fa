/* Unit test of the qcow2 reader (src/qcow2.c): a table of images built in
 * memory, valid and hostile, each parsed from a memory source; then backing
 * path resolution; then chains of small files in a temporary directory
 * (relative names, raw base, missing file, loop, protocol names).
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#else
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qcow2.h"

/* ---------------------------------------------------------------------- */
/* Building images.  Clusters are 512 bytes:
 *   cluster 0  header, extensions, backing name at 400
 *   cluster 1  refcount table     cluster 2  L1 table (32 entries: 1 MiB)
 *   cluster 3  bitmap directory   cluster 4  bitmap tables
 */
#define CS 512
#define IMG_MAX (8 * CS)
#define BACKING_OFFSET 400

struct bmo {
  const char *name;
  uint32_t flags;
  uint8_t gran;
};

struct opts {
  int version;                  /* 2 or 3 */
  const char *backing, *backing_fmt;
  int nbm;                      /* bitmaps in the directory */
  struct bmo bm[3];
  bool autoclear_off;           /* leave autoclear bit 0 clear */
  int fmt_repeat;               /* write the backing format extension N times */
};

/* Where build() put things, for patches. */
enum base { ABS, BMEXT, DIR, E0, E1 };
struct layout {
  size_t at[5];
};

static void
put(uint8_t *b, size_t off, unsigned width, uint64_t v)
{
  for (unsigned i = 0; i < width; i++)
    b[off + i] = (uint8_t)(v >> (8 * (width - 1 - i)));
}

/* Build an image from O into B (IMG_MAX bytes); returns its size. */
static size_t
build(uint8_t *b, const struct opts *o, struct layout *l)
{
  size_t hl = o->version == 2 ? 72 : 104, off;

  memset(b, 0, IMG_MAX);
  memset(l, 0, sizeof *l);
  put(b, 0, 4, 0x514649fb);
  put(b, 4, 4, (uint64_t)o->version);
  if (o->backing) {
    put(b, 8, 8, BACKING_OFFSET);
    put(b, 16, 4, strlen(o->backing));
    memcpy(b + BACKING_OFFSET, o->backing, strlen(o->backing));
  }
  put(b, 20, 4, 9);                     /* cluster_bits */
  put(b, 24, 8, 1 << 20);               /* size: 1 MiB */
  put(b, 36, 4, 32);                    /* l1_size */
  put(b, 40, 8, 2 * CS);                /* l1_table_offset */
  put(b, 48, 8, 1 * CS);                /* refcount_table_offset */
  put(b, 56, 4, 1);                     /* refcount_table_clusters */
  if (o->version == 3) {
    put(b, 88, 8, o->nbm && !o->autoclear_off ? 1 : 0);
    put(b, 96, 4, 4);
    put(b, 100, 4, hl);
  }
  off = hl;
  for (int i = 0; o->backing_fmt && i < (o->fmt_repeat ? o->fmt_repeat : 1);
       i++) {
    size_t n = strlen(o->backing_fmt);
    put(b, off, 4, 0xe2792aca);
    put(b, off + 4, 4, n);
    memcpy(b + off + 8, o->backing_fmt, n);
    off += 8 + ((n + 7) & ~(size_t)7);
  }
  if (o->nbm) {
    size_t dir = 3 * CS, e = dir;
    l->at[BMEXT] = off;
    l->at[DIR] = dir;
    for (int i = 0; i < o->nbm; i++) {
      size_t n = strlen(o->bm[i].name);
      if (i < 2)
        l->at[E0 + i] = e;
      put(b, e, 8, 4 * CS);              /* bitmap table offset */
      put(b, e + 8, 4, 1);
      put(b, e + 12, 4, o->bm[i].flags);
      b[e + 16] = 1;
      b[e + 17] = o->bm[i].gran ? o->bm[i].gran : 16;
      put(b, e + 18, 2, n);
      memcpy(b + e + 24, o->bm[i].name, n);
      e += (24 + n + 7) & ~(size_t)7;
    }
    put(b, off, 4, 0x23852875);
    put(b, off + 4, 4, 24);
    put(b, off + 8, 4, (uint64_t)o->nbm);
    put(b, off + 16, 8, e - dir);
    put(b, off + 24, 8, dir);
    off += 32;
  }
  put(b, off, 8, 0);                    /* end of extensions */
  return 5 * CS;
}

/* ---------------------------------------------------------------------- */
/* The table. */

struct patch {
  enum base base;
  unsigned off, width;          /* width 0: no patch */
  uint64_t val;
};

struct expect {
  const char *format;           /* format_name */
  int version;
  size_t nr_bitmaps;
  bool consistent;
  const char *backing, *backing_fmt;
  const char *note;             /* substring of one of the notes */
  size_t nr_notes;              /* if not 0, how many notes */
  const char *problem0;         /* substring of bitmaps[0].problem */
  const char *problem1;         /* substring of bitmaps[1].problem */
  bool dirty, corrupt;
  uint32_t flags[3];            /* bitmaps[i].flags */
  bool in_use[3], enabled[3];
  unsigned gran[3];
};

struct tcase {
  const char *desc;
  struct opts o;
  struct patch p[4];
  size_t size;                  /* truncate (or extend) to this, if not 0 */
#define EMPTY SIZE_MAX            /* ... or to nothing */
  const char *hint;
  const char *err;              /* substring of the error; NULL = success */
  struct expect e;
};

#define V2 { .version = 2 }
#define V3 { .version = 3 }
#define BM3 { .version = 3, .backing = "base.qcow2", .backing_fmt = "qcow2", \
      .nbm = 3, .bm = { { "b1", 2, 16 }, { "live", 3, 20 }, { "off", 0, 9 } } }
#define BM1 { .version = 3, .nbm = 1, .bm = { { "b1", 2, 16 } } }
/* 48-byte entries: a 96-byte directory has room for 3 minimal ones */
#define BM2 { .version = 3, .nbm = 2, .bm = { { "first-bitmap-name", 2, 16 }, \
                                              { "second-bitmap-nam", 2, 16 } } }
#define BM2S { .version = 3, .nbm = 2, .bm = { { "b1", 2, 16 }, \
                                               { "b2", 2, 16 } } }
#define OKQ(v, n) { .format = "qcow2", .version = v, .nr_bitmaps = n, \
      .consistent = true }

static const struct tcase cases[] = {
  { "valid v2", V2, {{0}}, 0, NULL, NULL, OKQ(2, 0) },
  { "valid v2 with backing file",
    { .version = 2, .backing = "../base.img" }, {{0}}, 0, NULL, NULL,
    { .format = "qcow2", .version = 2, .consistent = true,
      .backing = "../base.img" } },
  { "valid v3", V3, {{0}}, 0, "qcow2", NULL, OKQ(3, 0) },
  { "valid v3 with backing and bitmaps", BM3, {{0}}, 0, NULL, NULL,
    { .format = "qcow2", .version = 3, .nr_bitmaps = 3, .consistent = true,
      .backing = "base.qcow2", .backing_fmt = "qcow2",
      .flags = { 2, 3, 0 }, .in_use = { false, true, false },
      .enabled = { true, true, false }, .gran = { 16, 20, 9 } } },
  { "v3 bitmaps, autoclear bit clear: ignored",
    { .version = 3, .nbm = 1, .bm = { { "b1", 2, 16 } },
      .autoclear_off = true }, {{0}}, 0, NULL, NULL,
    { .format = "qcow2", .version = 3, .consistent = false,
      .note = "autoclear bit is clear" } },
  { "v2 bitmaps: no autoclear bits, ignored",
    { .version = 2, .nbm = 1, .bm = { { "b1", 2, 16 } } }, {{0}}, 0, NULL,
    NULL, { .format = "qcow2", .version = 2, .consistent = false,
            .note = "autoclear bit is clear" } },
  { "autoclear bit set without extension", V3, {{ ABS, 88, 8, 1 }}, 0, NULL,
    NULL, { .format = "qcow2", .version = 3, .consistent = true,
            .note = "no bitmaps extension" } },

  /* Header */
  { "empty file probes as raw", V3, {{0}}, EMPTY, NULL, NULL,
    { .format = "raw", .consistent = true } },
  { "truncated header (50 bytes)", V2, {{0}}, 50, NULL, "truncated qcow2 header", {0} },
  { "truncated header, format given", V2, {{0}}, 3, "qcow2", "truncated qcow2 header", {0} },
  { "truncated v3 header (80 bytes)", V3, {{0}}, 80, NULL, "truncated qcow2 version 3 header", {0} },
  { "not qcow2 with qcow2 hint", V3, {{ ABS, 0, 4, 0x12345678 }}, 0, "qcow2",
    "no QFI", {0} },
  { "random bytes probe as raw", V3, {{ ABS, 0, 4, 0x12345678 }}, 0, NULL,
    NULL, { .format = "raw", .consistent = true } },
  { "qcow2 magic but raw hint", V3, {{0}}, 0, "raw", NULL,
    { .format = "raw", .consistent = true, .note = "begins with a qcow2" } },
  { "other format hint", V3, {{0}}, 0, "vmdk", NULL,
    { .format = "vmdk", .consistent = true } },
  { "qcow version 1 probes as qcow", V3, {{ ABS, 4, 4, 1 }}, 0, NULL, NULL,
    { .format = "qcow", .consistent = true } },
  { "qcow2 version 1 with hint", V3, {{ ABS, 4, 4, 1 }}, 0, "qcow2", "unsupported qcow2 version 1", {0} },
  { "qcow2 version 4", V3, {{ ABS, 4, 4, 4 }}, 0, NULL, "unsupported qcow2 version 4", {0} },
  { "cluster_bits 8", V3, {{ ABS, 20, 4, 8 }}, 0, NULL, "unsupported cluster size: 2^8", {0} },
  { "cluster_bits 22", V3, {{ ABS, 20, 4, 22 }}, 0, NULL, "unsupported cluster size: 2^22", {0} },
  { "cluster_bits 2^32-1", V3, {{ ABS, 20, 4, 0xffffffff }}, 0, NULL, "unsupported cluster size", {0} },
  { "header_length < 104", V3, {{ ABS, 100, 4, 96 }}, 0, NULL, "header too short", {0} },
  { "header_length > cluster", V3, {{ ABS, 100, 4, 1024 }}, 0, NULL, "exceeds the cluster size", {0} },
  { "header_length past EOF", V3, {{ ABS, 100, 4, 512 }}, 300, NULL, "truncated qcow2 header", {0} },
  { "refcount order 7", V3, {{ ABS, 96, 4, 7 }}, 0, NULL, "refcount order 7", {0} },
  { "no refcount table", V3, {{ ABS, 56, 4, 0 }}, 0, NULL, "reference count table", {0} },
  { "refcount table misaligned", V3, {{ ABS, 48, 8, 513 }}, 0, NULL, "reference count table offset invalid", {0} },
  { "refcount table too large", V3, {{ ABS, 56, 4, 0xffffffff }}, 0, NULL, "reference count table too large", {0} },
  { "L1 offset near 2^64", V3, {{ ABS, 40, 8, 0xfffffffffffffe00 }}, 0, NULL, "L1 table offset invalid", {0} },
  { "L1 too small", V3, {{ ABS, 36, 4, 31 }}, 0, NULL, "L1 table is too small", {0} },
  { "virtual size 2^64-1", V3, {{ ABS, 24, 8, UINT64_MAX }}, 0, NULL, "image is too big", {0} },
  { "L1 past end of file: truncated note", V3, {{0}}, 2 * CS + 8, NULL, NULL,
    { .format = "qcow2", .version = 3, .consistent = true,
      .note = "active L1 table at offset 0x400 (256 bytes) extends past end of file" } },
  { "snapshot table too large", V3, {{ ABS, 60, 4, 70000 }}, 0, NULL, "snapshot table too large", {0} },
  { "encryption method 3", V3, {{ ABS, 32, 4, 3 }}, 0, NULL, "unsupported encryption method 3", {0} },
  { "AES encrypted: note", V3, {{ ABS, 32, 4, 1 }}, 0, NULL, NULL,
    { .format = "qcow2", .version = 3, .consistent = true, .note = "encrypted (AES)" } },
  { "compression type 2", V3, {{ ABS, 100, 4, 112 }, { ABS, 104, 1, 2 }}, 0, NULL, "unknown compression type 2", {0} },
  { "zstd without feature bit", V3, {{ ABS, 100, 4, 112 }, { ABS, 104, 1, 1 }}, 0, NULL, "does not match", {0} },
  { "zstd with feature bit", V3, {{ ABS, 100, 4, 112 }, { ABS, 104, 1, 1 }, { ABS, 72, 8, 8 }}, 0, NULL, NULL, OKQ(3, 0) },
  { "extended L2 needs 16 KiB clusters", V3, {{ ABS, 72, 8, 16 }}, 0, NULL, "subcluster size", {0} },
  { "unknown incompatible bit named by the feature table", V3,
    {{ ABS, 72, 8, UINT64_C(1) << 40 }, { ABS, 104, 8, 0x6803f85700000030 },
     { ABS, 112, 2, 0x0028 }, { ABS, 114, 4, 0x666f6f21 }}, 0, NULL, NULL,
    { .format = "qcow2", .version = 3, .consistent = true,
      .note = "unknown incompatible features 0x10000000000 (bit 40 'foo!')" } },
  { "dirty and corrupt bits", V3, {{ ABS, 72, 8, 3 }}, 0, NULL, NULL,
    { .format = "qcow2", .version = 3, .consistent = true, .dirty = true, .corrupt = true } },

  /* Backing file name */
  { "backing file offset beyond the cluster", V3, {{ ABS, 8, 8, 513 }}, 0, NULL, "invalid backing file offset", {0} },
  { "backing file offset 2^64-1", V3, {{ ABS, 8, 8, UINT64_MAX }}, 0, NULL, "invalid backing file offset", {0} },
  { "backing file name past end of file", { .version = 3, .backing = "base" },
    {{0}}, 402, NULL, "backing file name at offset 0x190 (4 bytes) extends past end of file (size 402)", {0} },
  { "backing file name past the cluster", { .version = 3, .backing = "base" },
    {{ ABS, 16, 4, 200 }}, 0, NULL, "backing file name too long", {0} },
  { "backing file name 1024 bytes", { .version = 3, .backing = "base" },
    {{ ABS, 16, 4, 1024 }}, 0, NULL, "backing file name too long", {0} },
  { "backing file name with NUL", { .version = 3, .backing = "ba\001e" },
    {{ ABS, BACKING_OFFSET + 2, 1, 0 }}, 0, NULL, "backing file name contains a NUL", {0} },
  { "empty backing file name", { .version = 3, .backing = "base" },
    {{ ABS, 16, 4, 0 }}, 0, NULL, NULL,
    { .format = "qcow2", .version = 3, .consistent = true, .note = "name is empty" } },
  { "backing format 16 bytes", { .version = 3, .backing = "b", .backing_fmt = "0123456789abcdef" },
    {{0}}, 0, NULL, "backing format extension: length 16 too large", {0} },

  /* Header extensions */
  { "duplicate backing format: the last one wins", { .version = 3, .backing = "b", .backing_fmt = "raw" },
    {{ ABS, 120, 4, 0xe2792aca }, { ABS, 124, 4, 5 }, { ABS, 128, 5, 0x71636f7732 /* "qcow2" */ }}, 0, NULL, NULL,
    { .format = "qcow2", .version = 3, .consistent = true, .backing = "b", .backing_fmt = "qcow2",
      .note = "duplicate backing format extension" } },
  { "17 duplicate extensions: 16 notes", { .version = 3, .backing = "b", .backing_fmt = "raw", .fmt_repeat = 17 },
    {{0}}, 0, NULL, NULL,
    { .format = "qcow2", .version = 3, .consistent = true, .backing = "b", .backing_fmt = "raw",
      .note = "duplicate backing format extension", .nr_notes = 16 } },
  { "40 duplicate empty extensions: notes capped", { .version = 3, .backing_fmt = "", .fmt_repeat = 40 },
    {{0}}, 0, NULL, NULL,
    { .format = "qcow2", .version = 3, .consistent = true, .backing_fmt = "",
      .note = "further notes omitted", .nr_notes = 33 } },
  { "extension length 2^32-1", V3, {{ ABS, 104, 4, 0x12345678 }, { ABS, 108, 4, 0xffffffff }}, 0, NULL, "goes past the end of the extension area", {0} },
  { "extension length past backing name", { .version = 3, .backing = "base" },
    {{ ABS, 104, 4, 0x12345678 }, { ABS, 108, 4, BACKING_OFFSET - 112 + 1 }}, 0, NULL, "goes past the end", {0} },
  { "extension fits exactly before backing name", { .version = 3, .backing = "base" },
    {{ ABS, 104, 4, 0x12345678 }, { ABS, 108, 4, BACKING_OFFSET - 112 }}, 0, NULL, NULL,
    { .format = "qcow2", .version = 3, .consistent = true, .backing = "base" } },
  { "extension header overlapping end of area", { .version = 3, .backing = "base" },
    {{ ABS, 8, 8, 404 }, { ABS, 104, 4, 0x12345678 }, { ABS, 108, 4, 284 }}, 0, NULL, "overlaps the end of the extension area", {0} },
  { "end marker with a length", V3, {{ ABS, 108, 4, 0x1000 }}, 0, NULL, "goes past the end", {0} },
  { "extensions run past end of file", V3, {{ ABS, 104, 4, 0x12345678 }, { ABS, 108, 4, 16 }}, 120, NULL, "extends past end of file", {0} },
  { "unknown extensions skipped", V3, {{ ABS, 104, 4, 0x12345678 }, { ABS, 108, 4, 3 }}, 0, NULL, NULL, OKQ(3, 0) },
  { "crypto header without LUKS", V3, {{ ABS, 104, 4, 0x0537be77 }, { ABS, 108, 4, 16 }}, 0, NULL, "only expected with LUKS", {0} },
  { "external data file: note", V3,
    {{ ABS, 72, 8, 4 }, { ABS, 104, 4, 0x44415441 }, { ABS, 108, 4, 3 }, { ABS, 112, 3, 0x782e64 /* "x.d" */ }}, 0, NULL, NULL,
    { .format = "qcow2", .version = 3, .consistent = true, .note = "external data file 'x.d'" } },

  /* Bitmaps extension */
  { "bitmaps extension length 16", BM1, {{ BMEXT, 4, 4, 16 }}, 0, NULL, "bitmaps extension has length 16", {0} },
  { "bitmaps extension reserved field", BM1, {{ BMEXT, 12, 4, 1 }}, 0, NULL, "reserved field", {0} },
  { "zero bitmaps", BM1, {{ BMEXT, 8, 4, 0 }}, 0, NULL, "zero bitmaps", {0} },
  { "huge nb_bitmaps", BM1, {{ BMEXT, 8, 4, 0xffffffff }}, 0, NULL, "more than the maximum of 65535", {0} },
  { "65535 bitmaps in a small directory", BM1, {{ BMEXT, 8, 4, 65535 }}, 0, NULL, "too small for 65535 bitmaps", {0} },
  { "directory size 2^64-1", BM1, {{ BMEXT, 16, 8, UINT64_MAX }}, 0, NULL, "exceeds the maximum", {0} },
  { "directory size 64 MiB + 1", BM1, {{ BMEXT, 16, 8, (64 << 20) + 1 }}, 0, NULL, "exceeds the maximum", {0} },
  { "directory size 64 MiB past EOF", BM1, {{ BMEXT, 16, 8, 64 << 20 }}, 0, NULL, "bitmap directory at offset 0x600 (67108864 bytes) extends past end of file (size 2560)", {0} },
  { "directory size zero", BM1, {{ BMEXT, 16, 8, 0 }}, 0, NULL, "bitmap directory size is zero", {0} },
  { "directory misaligned", BM1, {{ BMEXT, 24, 8, 3 * CS + 8 }}, 0, NULL, "not cluster aligned", {0} },
  { "directory offset past EOF", BM1, {{ BMEXT, 24, 8, 1024 * CS }}, 0, NULL, "extends past end of file", {0} },
  { "directory offset 2^64-512", BM1, {{ BMEXT, 24, 8, 0xfffffffffffffe00 }}, 0, NULL, "extends past end of file", {0} },
  { "directory truncated by EOF", BM1, {{0}}, 3 * CS + 16, NULL, "extends past end of file", {0} },
  { "nb_bitmaps 3, directory has 2", BM2, {{ BMEXT, 8, 4, 3 }}, 0, NULL, "fewer than the 3", {0} },
  { "nb_bitmaps 1, directory has 2", BM2, {{ BMEXT, 8, 4, 1 }}, 0, NULL, "more entries than the 1", {0} },
  { "entry longer than the directory", BM1, {{ E0, 18, 2, 10 }}, 0, NULL, "extends past the end of the directory", {0} },
  { "directory size leaves a stub", BM1, {{ BMEXT, 16, 8, 48 }}, 0, NULL, "is truncated", {0} },
  { "entry name size 0", BM1, {{ E0, 18, 2, 0 }}, 0, NULL, "name size 0", {0} },
  { "entry name size 1024", BM1, {{ E0, 18, 2, 1024 }, { BMEXT, 16, 8, 1048 }}, IMG_MAX, NULL, "name size 1024 is outside 1..1023", {0} },
  { "entry name size 65535", BM1, {{ E0, 18, 2, 65535 }}, 0, NULL, "extends past the end of the directory", {0} },
  { "entry extra data size 2^32-1", BM1, {{ E0, 20, 4, 0xffffffff }}, 0, NULL, "extends past the end of the directory", {0} },
  { "bitmap name with NUL", BM1, {{ E0, 25, 1, 0 }}, 0, NULL, "name contains a NUL", {0} },
  { "extra data: problem", BM1, {{ E0, 20, 4, 1 }, { E0, 25, 2, 0x7878 /* "xx" */ }}, 0, NULL, NULL,
    { .format = "qcow2", .version = 3, .nr_bitmaps = 1, .consistent = true,
      .problem0 = "extra data", .flags = { 2 }, .enabled = { true }, .gran = { 16 } } },
  { "reserved flags: problem", BM1, {{ E0, 12, 4, 0x6 }}, 0, NULL, NULL,
    { .format = "qcow2", .version = 3, .nr_bitmaps = 1, .consistent = true,
      .problem0 = "reserved flags set (0x4)", .flags = { 6 }, .enabled = { true }, .gran = { 16 } } },
  { "type 0: problem", BM1, {{ E0, 16, 1, 0 }}, 0, NULL, NULL,
    { .format = "qcow2", .version = 3, .nr_bitmaps = 1, .consistent = true,
      .problem0 = "type 0", .flags = { 2 }, .enabled = { true }, .gran = { 16 } } },
  { "granularity 8: problem", { .version = 3, .nbm = 1, .bm = { { "g", 1, 8 } } }, {{0}}, 0, NULL, NULL,
    { .format = "qcow2", .version = 3, .nr_bitmaps = 1, .consistent = true,
      .problem0 = "granularity bits 8", .flags = { 1 }, .in_use = { true }, .gran = { 8 } } },
  { "granularity 255: problem", { .version = 3, .nbm = 1, .bm = { { "g", 0, 255 } } }, {{0}}, 0, NULL, NULL,
    { .format = "qcow2", .version = 3, .nr_bitmaps = 1, .consistent = true,
      .problem0 = "granularity bits 255", .gran = { 255 } } },
  { "table misaligned: problem", BM1, {{ E0, 0, 8, 4 * CS + 8 }}, 0, NULL, NULL,
    { .format = "qcow2", .version = 3, .nr_bitmaps = 1, .consistent = true,
      .problem0 = "not cluster aligned", .flags = { 2 }, .enabled = { true }, .gran = { 16 } } },
  { "no table: problem", BM1, {{ E0, 8, 4, 0 }}, 0, NULL, NULL,
    { .format = "qcow2", .version = 3, .nr_bitmaps = 1, .consistent = true,
      .problem0 = "no bitmap table", .flags = { 2 }, .enabled = { true }, .gran = { 16 } } },
  { "table too small for the disk: problem", BM1, {{ ABS, 24, 8, 4 << 20 }, { ABS, 36, 4, 128 }, { E0, 17, 1, 9 }}, 0, NULL, NULL,
    { .format = "qcow2", .version = 3, .nr_bitmaps = 1, .consistent = true,
      .problem0 = "too small for the virtual size", .flags = { 2 }, .enabled = { true }, .gran = { 9 } } },
  { "table past end of file: problem", BM1, {{ E0, 8, 4, 100 }}, 0, NULL, NULL,
    { .format = "qcow2", .version = 3, .nr_bitmaps = 1, .consistent = true,
      .problem0 = "extends past end of file", .flags = { 2 }, .enabled = { true }, .gran = { 16 } } },
  { "table 2^27 entries: problem", BM1, {{ E0, 8, 4, 0x8000001 }}, 0, NULL, NULL,
    { .format = "qcow2", .version = 3, .nr_bitmaps = 1, .consistent = true,
      .problem0 = "more than", .flags = { 2 }, .enabled = { true }, .gran = { 16 } } },
  { "duplicate names: problem on the second", BM2S, {{ E1, 25, 1, '1' }}, 0, NULL, NULL,
    { .format = "qcow2", .version = 3, .nr_bitmaps = 2, .consistent = true,
      .problem1 = "same name as bitmap 0", .flags = { 2, 2 }, .enabled = { true, true }, .gran = { 16, 16 } } },
};

struct mem {
  const uint8_t *data;
  size_t size;
};

static int
mem_pread(void *opaque, void *buf, size_t count, uint64_t offset)
{
  struct mem *m = opaque;
  if (offset > m->size || count > m->size - offset) {
    errno = EIO;              /* the reader must never ask for this */
    return -1;
  }
  memcpy(buf, m->data + offset, count);
  return 0;
}

static bool
has_note(const struct vk_image *img, const char *s)
{
  for (size_t i = 0; i < img->nr_notes; i++)
    if (strstr(img->notes[i], s))
      return true;
  return false;
}

static bool
str_eq(const char *a, const char *b)
{
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Compare IMG with E; returns the number of mismatches (printed). */
static int
check_image(const char *desc, const struct vk_image *img,
            const struct expect *e)
{
  int bad = 0;
#define MISMATCH(...) do {                               \
    fprintf(stderr, "FAIL: %s: ", desc);                 \
    fprintf(stderr, __VA_ARGS__);                        \
    fputc('\n', stderr);                                 \
    bad++;                                               \
  } while (0)

  if (!str_eq(img->format_name, e->format))
    MISMATCH("format %s, want %s", img->format_name, e->format);
  if (img->version != e->version)
    MISMATCH("version %d, want %d", img->version, e->version);
  if (img->nr_bitmaps != e->nr_bitmaps)
    MISMATCH("%zu bitmaps, want %zu", img->nr_bitmaps, e->nr_bitmaps);
  if (img->bitmaps_consistent != e->consistent)
    MISMATCH("bitmaps_consistent %d", img->bitmaps_consistent);
  if (img->dirty != e->dirty || img->corrupt != e->corrupt)
    MISMATCH("dirty %d corrupt %d", img->dirty, img->corrupt);
  if (!str_eq(img->backing_file, e->backing))
    MISMATCH("backing file '%s', want '%s'", img->backing_file, e->backing);
  if (!str_eq(img->backing_format, e->backing_fmt))
    MISMATCH("backing format '%s'", img->backing_format);
  if (e->note && !has_note(img, e->note))
    MISMATCH("no note containing '%s' (%zu notes%s%s)", e->note,
             img->nr_notes, img->nr_notes ? ", first: " : "",
             img->nr_notes ? img->notes[0] : "");
  if (e->nr_notes && img->nr_notes != e->nr_notes)
    MISMATCH("%zu notes, want %zu", img->nr_notes, e->nr_notes);
  if (!e->note && img->nr_notes && img->format == VK_FMT_QCOW2)
    MISMATCH("unexpected note '%s'", img->notes[0]);
  for (size_t i = 0; i < img->nr_bitmaps && i < 3; i++) {
    const struct vk_bitmap *bm = &img->bitmaps[i];
    const char *want = i == 0 ? e->problem0 : i == 1 ? e->problem1 : NULL;
    if (want ? !bm->problem || !strstr(bm->problem, want) : !!bm->problem)
      MISMATCH("bitmap %zu problem '%s', want '%s'", i, bm->problem, want);
    if (bm->flags != e->flags[i] || bm->in_use != e->in_use[i] ||
        bm->enabled != e->enabled[i])
      MISMATCH("bitmap %zu flags 0x%x in_use %d enabled %d", i,
               bm->flags, bm->in_use, bm->enabled);
    if (bm->granularity_bits != e->gran[i])
      MISMATCH("bitmap %zu granularity bits %u", i, bm->granularity_bits);
    if (bm->type != 1 && !(e->problem0 && strstr(e->problem0, "type")))
      MISMATCH("bitmap %zu type %u", i, bm->type);
    if (vk_image_find_bitmap(img, bm->name) != bm && !e->problem1)
      MISMATCH("bitmap %zu not found by name", i);
  }
  return bad;
}

static int
run_cases(void)
{
  static uint8_t buf[IMG_MAX];
  int errors = 0;

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const struct tcase *t = &cases[i];
    struct layout l;
    size_t size = build(buf, &t->o, &l);
    for (size_t j = 0; j < 4 && t->p[j].width; j++)
      put(buf, l.at[t->p[j].base] + t->p[j].off, t->p[j].width, t->p[j].val);
    if (t->size)
      size = t->size == EMPTY ? 0 : t->size;

    /* A private copy of exactly SIZE bytes, so ASan/valgrind catch any
     * read past the end.
     */
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, buf, size);
    struct mem m = { copy, size };
    struct vk_source src = { &m, size, mem_pread };
    struct vk_image img;
    char *err = NULL;
    int r = vk_image_parse(&src, "test.img", t->hint, &img, &err);
    if (t->err) {
      if (r != -1)
        fprintf(stderr, "FAIL: %s: parsed, want error '%s'\n", t->desc,
                t->err), errors++;
      else if (!err || !strstr(err, t->err) ||
               strncmp(err, "test.img: ", 10) != 0)
        fprintf(stderr, "FAIL: %s: error '%s', want '%s'\n", t->desc, err,
                t->err), errors++;
      else if (img.filename || img.bitmaps || img.notes)
        fprintf(stderr, "FAIL: %s: image not cleared\n", t->desc), errors++;
    } else if (r == -1) {
      fprintf(stderr, "FAIL: %s: error '%s'\n", t->desc, err);
      errors++;
    } else {
      errors += check_image(t->desc, &img, &t->e);
    }
    vk_image_clear(&img);
    free(err);
    free(copy);
  }
  return errors;
}

static int
failing_pread(void *opaque, void *buf, size_t count, uint64_t offset)
{
  (void)opaque, (void)buf, (void)count, (void)offset;
  errno = EIO;
  return -1;
}

/* Read errors, and callers that want no message. */
static int
run_misc(void)
{
  static uint8_t buf[IMG_MAX];
  struct opts o = BM1;
  struct layout l;
  struct vk_image img;
  char *err = NULL;
  int errors = 0;
  size_t size = build(buf, &o, &l);
  struct mem m = { buf, size };
  struct vk_source bad = { &m, size, failing_pread };
  struct vk_source good = { &m, size, mem_pread };

  if (vk_image_parse(&bad, "t", NULL, &img, &err) != -1 || !err ||
      strcmp(err, "t: reading image header at offset 0x0: Input/output "
             "error") != 0)
    fprintf(stderr, "FAIL: read error: '%s'\n", err), errors++;
  free(err);
  if (vk_image_parse(&bad, "t", "qcow2", &img, NULL) != -1)
    fprintf(stderr, "FAIL: read error without message\n"), errors++;
  put(buf, l.at[BMEXT] + 8, 4, 0xffffffff);
  if (vk_image_parse(&good, "t", NULL, &img, NULL) != -1)
    fprintf(stderr, "FAIL: bad image without message\n"), errors++;
  put(buf, l.at[BMEXT] + 8, 4, 1);
  if (vk_image_parse(&good, "t", NULL, &img, NULL) != 0 ||
      img.nr_bitmaps != 1 || !vk_image_find_bitmap(&img, "b1") ||
      vk_image_find_bitmap(&img, "b") || vk_image_find_bitmap(&img, "b1x"))
    fprintf(stderr, "FAIL: good image without message\n"), errors++;
  vk_image_clear(&img);
  vk_image_clear(&img);         /* clearing twice is harmless */
  vk_chain_clear(NULL);
  vk_image_clear(NULL);
  return errors;
}

/* ---------------------------------------------------------------------- */
/* Backing name resolution. */

static const struct {
  const char *backed, *backing, *want;
} paths[] = {
  { "top.qcow2", "base.qcow2", "base.qcow2" },
  { "dir/top.qcow2", "base.qcow2", "dir/base.qcow2" },
  { "/a/b/top", "../c/base", "/a/b/../c/base" },
  { "/a/b/top", "/abs/base", "/abs/base" },
  { "a/b/top", "sub/base", "a/b/sub/base" },
  { "/top", "base", "/base" },
  { "dir/", "base", "dir/base" },
  { "d/top", "nbd:localhost:10809", "nbd:localhost:10809" },
  { "d/top", "json:{\"file\":{}}", "json:{\"file\":{}}" },
  { "file:top", "base", "file:base" },
  { "file:d/top", "base", "file:d/base" },
  { "d/top", "x/y:z", "d/x/y:z" },
};

static const struct {
  const char *name;
  bool protocol;
} protocols[] = {
  { "nbd:host:1", true }, { "json:{}", true }, { "file:x", true },
  { "a:b/c", true }, { "./a:b", false }, { "/a:b", false }, { "a/b:c", false },
  { "plain", false }, { "", false },
};

static int
run_paths(void)
{
  int errors = 0;
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    char *r = vk_resolve_backing_path(paths[i].backed, paths[i].backing);
    if (!r || strcmp(r, paths[i].want) != 0)
      fprintf(stderr, "FAIL: resolve '%s' from '%s': '%s', want '%s'\n",
              paths[i].backing, paths[i].backed, r, paths[i].want), errors++;
    free(r);
  }
  for (size_t i = 0; i < sizeof protocols / sizeof protocols[0]; i++)
    if (vk_path_has_protocol(protocols[i].name) != protocols[i].protocol)
      fprintf(stderr, "FAIL: has_protocol '%s'\n", protocols[i].name),
        errors++;
  return errors;
}

/* ---------------------------------------------------------------------- */
/* Chains of real files. */

static char tmpdir[] = "/tmp/test-qcow2.XXXXXX";

/* Write a qcow2 image DIR/NAME with backing BACKING (format FMT). */
static void
write_image(const char *name, const char *backing, const char *fmt)
{
  static uint8_t buf[IMG_MAX];
  struct opts o = { .version = 3, .backing = backing, .backing_fmt = fmt };
  struct layout l;
  char path[256];
  size_t size = build(buf, &o, &l);

  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(buf, 1, size, f) != size || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

static const struct {
  const char *top;              /* relative to tmpdir */
  const char *end;
  size_t nr_images;
  const char *last_format;
  const char *end_path_suffix;  /* of end_path, or NULL for none */
} chains[] = {
  { "top", "complete", 3, "raw", NULL },
  { "sub/top2", "complete", 4, "raw", NULL },
  { "loop1", "loop", 2, "qcow2", "sub/../loop1" },
  { "missing", "missing", 1, "qcow2", "/nonexistent" },
  { "nbd", "unsupported", 1, "qcow2", "nbd:localhost:10809" },
  { "json", "unsupported", 1, "qcow2", "json:{}" },
  { "bad-fmt", "error", 1, "qcow2", "/base.raw" },
  { "vmdk-backed", "unsupported", 2, "vmdk", NULL },
  { "self", "loop", 1, "qcow2", "/self" },
};

static int
run_chains(void)
{
  int errors = 0;
  char path[256];

  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(path, sizeof path, "%s/sub", tmpdir);
  mkdir(path, 0700);
  snprintf(path, sizeof path, "%s/base.raw", tmpdir);
  FILE *f = fopen(path, "wb");
  fputs("raw data", f);
  fclose(f);
  write_image("mid", "base.raw", "raw");
  write_image("top", "mid", "qcow2");            /* top -> mid -> base.raw */
  write_image("sub/top2", "../top", "qcow2");    /* sub/top2 -> sub/../top */
  write_image("loop1", "sub/loop2", "qcow2");
  write_image("sub/loop2", "../loop1", "qcow2"); /* by inode, not name */
  write_image("missing", "nonexistent", "qcow2");
  write_image("nbd", "nbd:localhost:10809", NULL);
  write_image("json", "json:{}", NULL);
  write_image("bad-fmt", "base.raw", "qcow2");   /* raw declared qcow2 */
  write_image("vmdk-backed", "mid", "vmdk");
  write_image("self", "self", NULL);

  for (size_t i = 0; i < sizeof chains / sizeof chains[0]; i++) {
    struct vk_chain c;
    char *err = NULL;
    snprintf(path, sizeof path, "%s/%s", tmpdir, chains[i].top);
    if (vk_chain_open(path, NULL, &c, &err) == -1) {
      fprintf(stderr, "FAIL: chain %s: %s\n", chains[i].top, err);
      free(err);
      errors++;
      continue;
    }
    const char *sfx = chains[i].end_path_suffix;
    size_t pl = c.end_path ? strlen(c.end_path) : 0;
    if (strcmp(vk_chain_end_name(c.end), chains[i].end) != 0 ||
        c.nr_images != chains[i].nr_images ||
        strcmp(c.images[c.nr_images - 1].format_name,
               chains[i].last_format) != 0 ||
        (sfx ? !c.end_path || pl < strlen(sfx) ||
         strcmp(c.end_path + pl - strlen(sfx), sfx) != 0 : !!c.end_path) ||
        (c.end != VK_CHAIN_COMPLETE && !c.end_detail))
      fprintf(stderr, "FAIL: chain %s: end %s, %zu images, last %s, "
              "end_path '%s' (%s)\n", chains[i].top, vk_chain_end_name(c.end),
              c.nr_images, c.images[c.nr_images - 1].format_name,
              c.end_path, c.end_detail), errors++;
    vk_chain_clear(&c);
  }

  /* A chain one image longer than the limit: deep/d0 -> d1 -> ... */
  char name[64], next[64];
  snprintf(path, sizeof path, "%s/deep", tmpdir);
  mkdir(path, 0700);
  for (int i = 0; i <= VK_CHAIN_MAX_DEPTH; i++) {
    snprintf(name, sizeof name, "deep/d%d", i);
    snprintf(next, sizeof next, "d%d", i + 1);
    write_image(name, next, "qcow2");
  }
  {
    struct vk_chain c;
    char *err = NULL;
    snprintf(path, sizeof path, "%s/deep/d0", tmpdir);
    if (vk_chain_open(path, "qcow2", &c, &err) != 0 ||
        c.end != VK_CHAIN_TOO_DEEP || c.nr_images != VK_CHAIN_MAX_DEPTH)
      fprintf(stderr, "FAIL: deep chain: %s, %zu images\n",
              vk_chain_end_name(c.end), c.nr_images), errors++;
    vk_chain_clear(&c);
    free(err);
  }
  for (int i = 0; i <= VK_CHAIN_MAX_DEPTH; i++) {
    snprintf(path, sizeof path, "%s/deep/d%d", tmpdir, i);
    unlink(path);
  }
  snprintf(path, sizeof path, "%s/deep", tmpdir);
  rmdir(path);

  /* The top itself missing, or not a file: an error. */
  struct vk_chain c;
  char *err = NULL;
  snprintf(path, sizeof path, "%s/nonexistent", tmpdir);
  errno = 0;
  if (vk_chain_open(path, NULL, &c, &err) != -1 || !err ||
      !strstr(err, "No such file") || errno != ENOENT)
    fprintf(stderr, "FAIL: missing top: %s\n", err), errors++;
  free(err);
  err = NULL;
  if (vk_chain_open(tmpdir, NULL, &c, &err) != -1 || !err ||
      !strstr(err, "not a regular file"))
    fprintf(stderr, "FAIL: directory top: %s\n", err), errors++;
  free(err);

  /* vk_image_open and vk_chain_open report errno. */
  struct vk_image img;
  err = NULL;
  snprintf(path, sizeof path, "%s/nonexistent", tmpdir);
  errno = 0;
  if (vk_image_open(path, NULL, &img, &err) != -1 || errno != ENOENT)
    fprintf(stderr, "FAIL: vk_image_open errno %d\n", errno), errors++;
  free(err);
  err = NULL;
  snprintf(path, sizeof path, "%s/base.raw", tmpdir);
  errno = 0;
  if (vk_image_open(path, "qcow2", &img, &err) != -1 || errno != EINVAL)
    fprintf(stderr, "FAIL: vk_image_open bad image errno %d\n", errno),
      errors++;
  free(err);
  err = NULL;
  errno = 0;
  if (vk_chain_open(path, "qcow2", &c, &err) != -1 || errno != EINVAL)
    fprintf(stderr, "FAIL: vk_chain_open bad image errno %d\n", errno),
      errors++;
  free(err);
  err = NULL;
  snprintf(path, sizeof path, "%s/base.raw", tmpdir);
  if (vk_image_open(path, NULL, &img, &err) != 0 || img.format != VK_FMT_RAW
      || img.virtual_size != 512 || img.file_size != 8)
    fprintf(stderr, "FAIL: vk_image_open raw\n"), errors++;
  vk_image_clear(&img);
  free(err);

  static const char *const files[] = {
    "base.raw", "mid", "top", "sub/top2", "loop1", "sub/loop2", "missing",
    "nbd", "json", "bad-fmt", "vmdk-backed", "self", "sub", NULL
  };
  for (size_t i = 0; files[i]; i++) {
    snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
    if (unlink(path) == -1)
      rmdir(path);
  }
  rmdir(tmpdir);
  return errors;
}

int
main(void)
{
  int errors = run_cases() + run_misc() + run_paths() + run_chains();
  size_t total = sizeof cases / sizeof cases[0] + sizeof paths / sizeof paths[0]
    + sizeof protocols / sizeof protocols[0] + sizeof chains / sizeof chains[0];
  if (errors) {
    fprintf(stderr, "test-qcow2: %d failure(s) in %zu cases\n", errors, total);
    return 1;
  }
  printf("test-qcow2: %zu cases passed\n", total);
  return 0;
}
