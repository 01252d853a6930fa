/* vckpt - bitmaps: a qcow2 backing chain and its bitmaps, read offline. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "qcow2.h"
#include "vckpt.h"

static struct {
  char *format;
} opts;

static const struct poptOption bitmaps_options[] = {
  { "format", '\0', POPT_ARG_STRING, &opts.format, 1,
    "format of the top image (default: probe)", "FMT" },
  POPT_TABLEEND
};

/* JSON array of a bitmap's flags, named as qemu-img names them. */
static json_object *
flags_json(const struct vk_bitmap *b)
{
  json_object *a = json_object_new_array();
  if (b->in_use)
    json_object_array_add(a, json_object_new_string("in-use"));
  if (b->enabled)
    json_object_array_add(a, json_object_new_string("auto"));
  return a;
}

static json_object *
image_json(const struct vk_image *img)
{
  json_object *o = json_object_new_object();
  json_object_object_add(o, "filename", vk_json_string(img->filename));
  json_object_object_add(o, "format", vk_json_string(img->format_name));
  json_object_object_add(o, "virtual_size", json_object_new_int64(img->virtual_size));
  if (img->format == VK_FMT_QCOW2) {
    json_object_object_add(o, "version", json_object_new_int(img->version));
    json_object_object_add(o, "cluster_size",
                           json_object_new_int64(INT64_C(1) << img->cluster_bits));
    json_object_object_add(o, "corrupt", json_object_new_boolean(img->corrupt));
    json_object_object_add(o, "dirty", json_object_new_boolean(img->dirty));
    json_object_object_add(o, "bitmaps_consistent",
                           json_object_new_boolean(img->bitmaps_consistent));
  }
  json_object_object_add(o, "backing_file", vk_json_string(img->backing_file));
  json_object_object_add(o, "backing_format", vk_json_string(img->backing_format));
  json_object *arr = json_object_new_array();
  for (size_t i = 0; i < img->nr_bitmaps; i++) {
    const struct vk_bitmap *b = &img->bitmaps[i];
    json_object *j = json_object_new_object();
    json_object_object_add(j, "name", vk_json_string(b->name));
    json_object_object_add(j, "granularity",
                           json_object_new_int64(INT64_C(1) << b->granularity_bits));
    json_object_object_add(j, "flags", flags_json(b));
    json_object_object_add(j, "problem", vk_json_string(b->problem));
    json_object_array_add(arr, j);
  }
  json_object_object_add(o, "bitmaps", arr);
  json_object *notes = json_object_new_array();
  for (size_t i = 0; i < img->nr_notes; i++)
    json_object_array_add(notes, json_object_new_string(img->notes[i]));
  json_object_object_add(o, "notes", notes);
  return o;
}

static void
image_text(const struct vk_image *img)
{
  CLEANUP_FREE char *fn = vk_printable(img->filename);
  char size[32];
  vk_human_size(img->virtual_size, size, sizeof size);
  if (img->format == VK_FMT_QCOW2)
    vk_printf("%s: qcow2 v%d, %s%s%s\n", fn, img->version, size,
              img->corrupt ? ", CORRUPT" : "", img->dirty ? ", dirty" : "");
  else if (img->format == VK_FMT_RAW)
    vk_printf("%s: raw, %s\n", fn, size);
  else
    vk_printf("%s: %s (not inspected)\n", fn, img->format_name ? img->format_name : "unknown");
  if (img->backing_file) {
    CLEANUP_FREE char *bf = vk_printable(img->backing_file);
    vk_printf("  backing file: %s%s%s%s\n", bf, img->backing_format ? " (" : "",
              img->backing_format ? img->backing_format : "", img->backing_format ? ")" : "");
  }
  for (size_t i = 0; i < img->nr_bitmaps; i++) {
    const struct vk_bitmap *b = &img->bitmaps[i];
    CLEANUP_FREE char *name = vk_printable(b->name);
    char gran[32];
    vk_human_size(UINT64_C(1) << b->granularity_bits, gran, sizeof gran);
    vk_printf("  bitmap %s: granularity %s, %s%s%s%s\n", name, gran,
              b->enabled ? "recording" : "disabled", b->in_use ? ", in-use (inconsistent "
              "unless a running QEMU holds the image)" : "",
              b->problem ? ", INVALID: " : "", b->problem ? b->problem : "");
  }
  if (img->has_bitmaps_extension && !img->bitmaps_consistent)
    vk_printf("  bitmaps ignored: the image was changed by a program without bitmap support\n");
  for (size_t i = 0; i < img->nr_notes; i++)
    vk_printf("  note: %s\n", img->notes[i]);
}

static int
cmd_bitmaps(struct cmd_ctx *ctx, int argc, const char **argv)
{
  const char *path = argv[0];
  struct vk_chain chain = { 0 };
  char *err = NULL;

  vk_set_context("bitmaps");
  if (!*path) {
    vk_error(VK_EXIT_USAGE, "image path is empty");
    return -1;
  }
  if (opts.format && strcmp(opts.format, "qcow2") != 0 && strcmp(opts.format, "raw") != 0) {
    CLEANUP_FREE char *f = vk_printable(opts.format);
    vk_error(VK_EXIT_USAGE, "unsupported --format '%s': vckpt reads qcow2 and raw images", f);
    return -1;
  }
  if (vk_chain_open(path, opts.format, &chain, &err) < 0) {
    /* vk_chain_open leaves errno set when the top image cannot be opened. */
    int eno = errno;
    CLEANUP_FREE char *msg = vk_printable(err ? err : "out of memory");
    vk_error(eno == ENOENT ? VK_EXIT_NOT_FOUND : VK_EXIT_FAILURE, "%s", msg);
    free(err);
    return -1;
  }
  if (chain.images[0].format == VK_FMT_OTHER) {
    CLEANUP_FREE char *fn = vk_printable(path);
    CLEANUP_FREE char *fm = vk_printable(chain.images[0].format_name);
    vk_error(VK_EXIT_FAILURE, "%s: a %s image: vckpt reads qcow2 and raw images only", fn, fm);
    vk_chain_clear(&chain);
    return -1;
  }
  if (chain.end == VK_CHAIN_ERROR) {
    /* Something is there but cannot be read (not a regular file, a damaged
     * header): QEMU could not open the chain either.
     */
    CLEANUP_FREE char *fn = vk_printable(path);
    CLEANUP_FREE char *ep = vk_printable(chain.end_path ? chain.end_path : "?");
    CLEANUP_FREE char *ed = vk_printable(chain.end_detail ? chain.end_detail : "unreadable");
    vk_error(VK_EXIT_FAILURE, "%s: cannot read backing file '%s': %s", fn, ep, ed);
    vk_chain_clear(&chain);
    return -1;
  }
  if (vk_json) {
    json_object *o = json_object_new_object();
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < chain.nr_images; i++)
      json_object_array_add(arr, image_json(&chain.images[i]));
    json_object_object_add(o, "images", arr);
    json_object_object_add(o, "end", json_object_new_string(vk_chain_end_name(chain.end)));
    json_object_object_add(o, "end_path", vk_json_string(chain.end_path));
    json_object_object_add(o, "end_detail", vk_json_string(chain.end_detail));
    vk_out_json(o);
  } else {
    for (size_t i = 0; i < chain.nr_images; i++)
      image_text(&chain.images[i]);
  }
  if (chain.end != VK_CHAIN_COMPLETE) {
    CLEANUP_FREE char *ep = chain.end_path ? vk_printable(chain.end_path) : NULL;
    CLEANUP_FREE char *ed = chain.end_detail ? vk_printable(chain.end_detail) : NULL;
    CLEANUP_FREE char *fn = vk_printable(path);
    vk_warn("%s: the chain ends early (%s)%s%s%s%s", fn, vk_chain_end_name(chain.end),
            ep ? ": " : "", ep ? ep : "", ed ? ": " : "", ed ? ed : "");
  }
  vk_chain_clear(&chain);
  return 0;
}

const struct cmd_entry cmd_bitmaps_entry = {
  .name = "bitmaps",
  .args = "IMAGE",
  .summary = "Show a qcow2 image's backing chain and each image's bitmaps (offline)",
  .options = bitmaps_options,
  .min_args = 1, .max_args = 1,
  .exec = cmd_bitmaps,
};
