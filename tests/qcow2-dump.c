/* Test helper: print what the qcow2 reader (src/qcow2.c) sees in a backing
 * chain, one "key=value" line each, for tests/test-qcow2-vs-qemu-img.sh.
 *
 *   qcow2-dump [-f FORMAT] IMAGE
 *
 * Keys: images=N, then image.I.* for each image (0 = top), bitmap lines
 * image.I.bitmap.J.*, notes image.I.note.K, a qcow2 image's own data
 * image.I.data (bytes; image.I.data_error if unreadable) and
 * image.I.compressed_clusters, and end=, end_path=,
 * end_detail=, loop_index= for how the chain walk ended.  Bytes below 0x20,
 * 0x7f and backslash are printed as \xNN.  Exit status 0, or 1 if IMAGE
 * itself could not be read (message on stderr).
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif

#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qcow2.h"

/* Print "KEY=VALUE\n" with VALUE escaped; NULL prints an empty value. */
static void
kv(const char *key, const char *value)
{
  fputs(key, stdout);
  putchar('=');
  for (const unsigned char *p = (const unsigned char *)(value ? value : "");
       *p; p++) {
    if (*p < 0x20 || *p == 0x7f || *p == '\\')
      printf("\\x%02x", *p);
    else
      putchar(*p);
  }
  putchar('\n');
}

/* Print "PREFIX.KEY=VALUE" for a formatted value. */
static void kvf(const char *prefix, const char *key, const char *f, ...)
  __attribute__((format(printf, 3, 4)));

static void
kvf(const char *prefix, const char *key, const char *f, ...)
{
  va_list ap;
  printf("%s.%s=", prefix, key);
  va_start(ap, f);
  vprintf(f, ap);
  va_end(ap);
  putchar('\n');
}

/* Print "PREFIX.KEY=" and the escaped string. */
static void
kvs(const char *prefix, const char *key, const char *value)
{
  char k[256];
  snprintf(k, sizeof k, "%s.%s", prefix, key);
  kv(k, value);
}

/* A vk_source reading a file descriptor. */
struct fd_src {
  int fd;
};

static int
fd_src_pread(void *opaque, void *buf, size_t count, uint64_t offset)
{
  const struct fd_src *s = opaque;
  return pread(s->fd, buf, count, (off_t)offset) == (ssize_t)count ? 0 : -1;
}

/* Print one image. */
static void
dump_image(size_t i, const struct vk_image *img)
{
  char pre[64], bpre[96];

  snprintf(pre, sizeof pre, "image.%zu", i);
  kvs(pre, "filename", img->filename);
  kvs(pre, "format", img->format_name);
  kvf(pre, "format_probed", "%d", img->format_probed);
  kvf(pre, "version", "%d", img->version);
  kvf(pre, "virtual_size", "%" PRIu64, img->virtual_size);
  kvf(pre, "file_size", "%" PRIu64, img->file_size);
  kvf(pre, "cluster_size", "%" PRIu64,
      img->cluster_bits ? UINT64_C(1) << img->cluster_bits : 0);
  kvf(pre, "incompatible_features", "0x%" PRIx64, img->incompatible_features);
  kvf(pre, "compatible_features", "0x%" PRIx64, img->compatible_features);
  kvf(pre, "autoclear_features", "0x%" PRIx64, img->autoclear_features);
  kvf(pre, "dirty", "%d", img->dirty);
  kvf(pre, "corrupt", "%d", img->corrupt);
  kvf(pre, "extended_l2", "%d", img->extended_l2);
  kvf(pre, "crypt_method", "%" PRIu32, img->crypt_method);
  kvf(pre, "compression_type", "%" PRIu32, img->compression_type);
  kvf(pre, "bitmaps_extension", "%d", img->has_bitmaps_extension);
  kvf(pre, "bitmaps_consistent", "%d", img->bitmaps_consistent);
  kvf(pre, "bitmap_directory_offset", "%" PRIu64,
      img->bitmap_directory_offset);
  kvf(pre, "bitmap_directory_size", "%" PRIu64, img->bitmap_directory_size);
  kvs(pre, "backing_file", img->backing_file);
  kvs(pre, "backing_format", img->backing_format);
  kvs(pre, "data_file", img->data_file);
  if (img->format == VK_FMT_QCOW2) {
    /* The data clusters of this image alone (vk_image_data_bytes). */
    uint64_t data = 0, compressed = 0;
    char *err = NULL;
    struct vk_image again;
    int fd = open(img->filename, O_RDONLY | O_CLOEXEC);
    struct stat st;
    struct fd_src s = { fd };
    struct vk_source src = { &s, 0, fd_src_pread };
    if (fd >= 0 && fstat(fd, &st) == 0) {
      src.size = (uint64_t)st.st_size;
      if (vk_image_parse(&src, img->filename, "qcow2", &again, &err) == 0) {
        if (vk_image_data_bytes(&src, &again, &data, &compressed, &err) == 0)
          kvf(pre, "data", "%" PRIu64, data);
        else
          kvs(pre, "data_error", err);
        kvf(pre, "compressed_clusters", "%" PRIu64, compressed);
        vk_image_clear(&again);
      }
    }
    free(err);
    if (fd >= 0)
      close(fd);
  }
  kvf(pre, "bitmaps", "%zu", img->nr_bitmaps);
  for (size_t j = 0; j < img->nr_bitmaps; j++) {
    const struct vk_bitmap *bm = &img->bitmaps[j];
    snprintf(bpre, sizeof bpre, "%s.bitmap.%zu", pre, j);
    kvs(bpre, "name", bm->name);
    kvf(bpre, "granularity", "%" PRIu64,
        bm->granularity_bits < 64 ? UINT64_C(1) << bm->granularity_bits : 0);
    /* The same order as qemu-img info's "flags" list. */
    kvf(bpre, "flags", "%s%s%s", bm->in_use ? "in-use" : "",
        bm->in_use && bm->enabled ? "," : "", bm->enabled ? "auto" : "");
    kvf(bpre, "raw_flags", "0x%" PRIx32, bm->flags);
    kvf(bpre, "type", "%u", bm->type);
    kvs(bpre, "problem", bm->problem);
  }
  for (size_t j = 0; j < img->nr_notes; j++) {
    char k[32];
    snprintf(k, sizeof k, "note.%zu", j);
    kvs(pre, k, img->notes[j]);
  }
}

int
main(int argc, char *argv[])
{
  const char *format = NULL;
  struct vk_chain chain;
  char *err = NULL;

  if (argc == 4 && strcmp(argv[1], "-f") == 0) {
    format = argv[2];
    argv += 2;
    argc -= 2;
  }
  if (argc != 2) {
    fprintf(stderr, "usage: qcow2-dump [-f FORMAT] IMAGE\n");
    return 2;
  }
  if (vk_chain_open(argv[1], format, &chain, &err) == -1) {
    fprintf(stderr, "qcow2-dump: %s\n", err ? err : "out of memory");
    free(err);
    return 1;
  }
  printf("images=%zu\n", chain.nr_images);
  for (size_t i = 0; i < chain.nr_images; i++)
    dump_image(i, &chain.images[i]);
  kv("end", vk_chain_end_name(chain.end));
  kv("end_path", chain.end_path);
  kv("end_detail", chain.end_detail);
  printf("loop_index=%zu\n", chain.loop_index);
  vk_chain_clear(&chain);
  return 0;
}
