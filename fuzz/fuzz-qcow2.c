/* libFuzzer harness for the qcow2 reader (src/qcow2.c).
 *
 * Each input is an image file held in memory.  It is parsed twice: with
 * format probing and with the format given as "qcow2".  Results are
 * checked for the reader's invariants (abort() on violation, so the fuzzer
 * reports it), and the memory source aborts if the reader ever asks for
 * bytes outside the input, which the reader promises never to do.
 *
 * Build (see fuzz/README.md):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I src \
 *     fuzz/fuzz-qcow2.c src/qcow2.c -o fuzz-qcow2
 * Without libFuzzer, -DVK_FUZZ_MAIN gives a main() that runs the files
 * named on the command line once each (a corpus regression test):
 *   gcc -DVK_FUZZ_MAIN -I src fuzz/fuzz-qcow2.c src/qcow2.c -o fuzz-qcow2
 * -DVK_FUZZ_INCLUDE_READER compiles src/qcow2.c into this file (one
 * translation unit), for build rules that should not share src/'s objects:
 *   clang -fsanitize=fuzzer,... -DVK_FUZZ_INCLUDE_READER -I src \
 *     fuzz/fuzz-qcow2.c -o fuzz-qcow2
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qcow2.h"
#ifdef VK_FUZZ_INCLUDE_READER
#include "qcow2.c"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem {
  const uint8_t *data;
  size_t size;
};

/* vk_source.pread over the input; out-of-range requests are reader bugs. */
static int
mem_pread(void *opaque, void *buf, size_t count, uint64_t offset)
{
  struct mem *m = opaque;
  if (offset > m->size || count > m->size - offset)
    abort();
  memcpy(buf, m->data + offset, count);
  return 0;
}

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

/* Check the invariants of a parsed image and touch every string. */
static void
check_image(const struct vk_image *img, size_t size)
{
  volatile size_t sink = 0;

  CHECK(img->filename && img->format_name);
  CHECK(img->file_size == size);
  if (img->format == VK_FMT_QCOW2) {
    CHECK(img->version == 2 || img->version == 3);
    CHECK(img->cluster_bits >= VK_QCOW2_MIN_CLUSTER_BITS &&
          img->cluster_bits <= VK_QCOW2_MAX_CLUSTER_BITS);
  }
  CHECK(img->nr_bitmaps <= VK_QCOW2_MAX_BITMAPS);
  CHECK(img->nr_bitmaps == 0 || img->bitmaps_consistent);
  if (img->backing_file) {
    size_t n = strlen(img->backing_file);
    CHECK(n >= 1 && n <= VK_QCOW2_MAX_BACKING_NAME);
    char *r = vk_resolve_backing_path(img->filename, img->backing_file);
    CHECK(r);
    sink += strlen(r) + vk_path_has_protocol(img->backing_file);
    free(r);
  }
  if (img->backing_format)
    CHECK(strlen(img->backing_format) < 16);
  if (img->data_file)
    sink += strlen(img->data_file);
  for (size_t i = 0; i < img->nr_bitmaps; i++) {
    const struct vk_bitmap *bm = &img->bitmaps[i];
    size_t n = strlen(bm->name);
    CHECK(n >= 1 && n <= VK_BME_MAX_NAME_SIZE);
    CHECK(bm->in_use == !!(bm->flags & VK_BME_FLAG_IN_USE));
    CHECK(bm->enabled == !!(bm->flags & VK_BME_FLAG_AUTO));
    if (bm->problem)
      sink += strlen(bm->problem);
    /* The first bitmap of a name is the one found. */
    const struct vk_bitmap *f = vk_image_find_bitmap(img, bm->name);
    CHECK(f && f <= bm && strcmp(f->name, bm->name) == 0);
  }
  for (size_t i = 0; i < img->nr_notes; i++)
    sink += strlen(img->notes[i]);
  (void)sink;
}

/* Parse DATA with FORMAT_HINT and check the result. */
static void
one(const uint8_t *data, size_t size, const char *hint)
{
  struct mem m = { data, size };
  struct vk_source src = { &m, size, mem_pread };
  struct vk_image img;
  char *err = NULL;

  if (vk_image_parse(&src, "fuzz.img", hint, &img, &err) == 0) {
    CHECK(err == NULL);
    check_image(&img, size);
    if (img.format == VK_FMT_QCOW2) {
      /* The data clusters, through the tables the header names. */
      uint64_t held = 0, compressed = 0;
      if (vk_image_data_bytes(&src, &img, &held, &compressed, &err) == 0) {
        CHECK(err == NULL && held <= img.virtual_size);
      } else {
        CHECK(err && strncmp(err, "fuzz.img: ", 10) == 0);
      }
      free(err);
      err = NULL;
    }
  } else {
    CHECK(err && strncmp(err, "fuzz.img: ", 10) == 0);
    CHECK(img.filename == NULL && img.bitmaps == NULL && img.notes == NULL);
  }
  vk_image_clear(&img);
  free(err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  one(data, size, NULL);
  one(data, size, "qcow2");
  return 0;
}

#ifdef VK_FUZZ_MAIN
/* Run each file named on the command line through the harness once. */
int
main(int argc, char *argv[])
{
  for (int i = 1; i < argc; i++) {
    FILE *f = fopen(argv[i], "rb");
    if (!f) {
      perror(argv[i]);
      return 1;
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0, n;
    do {
      if (len == cap) {
        cap = cap ? cap * 2 : 65536;
        uint8_t *nb = realloc(buf, cap);
        if (!nb) {
          perror("realloc");
          return 1;
        }
        buf = nb;
      }
      n = fread(buf + len, 1, cap - len, f);
      len += n;
    } while (n > 0);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
  }
  printf("fuzz-qcow2: ran %d input(s)\n", argc - 1);
  return 0;
}
#endif
