/* vckpt - image operations that carry the bitmaps: overlay create, commit. */
#include <config.h>

#include <string.h>

#include "commit.h"
#include "imageop.h"
#include "overlay.h"
#include "vckpt.h"
#include "virt.h"

/* Print what an overlay or commit did. */
static void
print_result(const struct vk_imageop_result *res, const char *domname)
{
  if (vk_json) {
    json_object *o = vk_imageop_result_json(res);
    json_object_object_add(o, "domain", vk_json_string(domname));
    vk_out_json(o);
    return;
  }
  const char *kind = res->resumed ? res->resumed_kind : res->kind;
  bool overlay = strcmp(kind, "overlay") == 0;
  if (res->resumed)
    vk_printf("Finished the interrupted %s of domain %s; nothing else was done (run the "
              "command again for a new one)\n", kind, domname);
  for (size_t i = 0; i < res->n; i++) {
    const struct vk_imageop_disk *d = &res->d[i];
    CLEANUP_FREE char *img = vk_printable(d->image);
    CLEANUP_FREE char *base = vk_printable(d->base);
    const char *pre = d->target ? d->target : "";
    const char *sep = d->target ? ": " : "";
    if (overlay)
      vk_printf("%s%soverlay %s on %s\n", pre, sep, img, base);
    else if (d->above) {
      CLEANUP_FREE char *above = vk_printable(d->above);
      vk_printf("%s%scommitted %s into %s; %s now stacks on %s\n", pre, sep, img, base, above,
                base);
    } else
      vk_printf("%s%scommitted %s into %s; %s\n", pre, sep, img, base,
                d->target ? "the disk now uses the base" : "use the base from now on");
    if (vk_quiet)
      continue;
    for (size_t k = 0; d->copied && d->copied[k]; k++) {
      CLEANUP_FREE char *n = vk_printable(d->copied[k]);
      vk_printf("  bitmap %s %s\n", n, overlay ? "carried" : "merged");
    }
    for (size_t k = 0; d->skipped && d->skipped[k]; k++)
      vk_printf("  bitmap %s: not carried\n", d->skipped[k]);
  }
}

/* ---- overlay create ---- */

static struct {
  char *disks;
  char *name;
  int image;
} ov_opts;

static const struct poptOption overlay_options[] = {
  { "disk", '\0', POPT_ARG_STRING, &ov_opts.disks, 1,
    "only these disks (default: every writable disk)", "DISK[,DISK...]" },
  { "name", '\0', POPT_ARG_STRING, &ov_opts.name, 2,
    "SNAP in the overlay names DIR/STEM.SNAP.qcow2 (default: the UTC time)", "SNAP" },
  { "image", '\0', POPT_ARG_NONE, &ov_opts.image, 3,
    "no domain: create the overlay NEW on the qcow2 image BASE (no libvirt)", "BASE NEW" },
  POPT_TABLEEND
};

static int
cmd_overlay_create(struct cmd_ctx *ctx, int argc, const char **argv)
{
  struct vk_imageop_result res = { 0 };
  CLEANUP_STRV char **disks = NULL;
  int r;

  if (ov_opts.image) {
    vk_set_context("overlay create");
    if (argc != 2 || ov_opts.disks || ov_opts.name) {
      CLEANUP_FREE char *usage = cmd_usage(ctx->entry);
      vk_error(VK_EXIT_USAGE, "--image takes BASE NEW and no --disk or --name; usage: %s", usage);
      return -1;
    }
    r = vk_overlay_image(argv[0], argv[1], &res);
    if (r == 0)
      print_result(&res, NULL);
    vk_imageop_result_clear(&res);
    return r;
  }
  const char *domname = argv[0];
  vk_set_context("overlay create %s", domname);
  if (argc != 1) {
    CLEANUP_FREE char *usage = cmd_usage(ctx->entry);
    vk_error(VK_EXIT_USAGE, "too many arguments; usage: %s", usage);
    return -1;
  }
  if (vk_check_lookup_name("domain", domname) < 0)
    return -1;
  if (ov_opts.disks && vk_split_list("disk", ov_opts.disks, &disks) < 0)
    return -1;
  virConnectPtr conn = ctx_connect(ctx);
  if (!conn)
    return -1;
  CLEANUP_DOMAIN virDomainPtr dom = vk_domain_lookup(conn, domname);
  if (!dom)
    return -1;
  r = vk_overlay_domain(dom, disks, ov_opts.name, &res);
  if (r == 0)
    print_result(&res, domname);
  vk_imageop_result_clear(&res);
  return r;
}

const struct cmd_entry cmd_overlay_create_entry = {
  .name = "overlay create",
  .args = "DOMAIN",
  .summary = "Create qcow2 overlays that carry the bitmaps (shut-off domain, or --image)",
  .options = overlay_options,
  .flags = CMD_CONNECTS,
  .min_args = 1, .max_args = 2,
  .exec = cmd_overlay_create,
};

/* ---- commit ---- */

static struct {
  char *disk;
  char *top;
  char *base;
  int image;
} co_opts;

static const struct poptOption commit_options[] = {
  { "disk", '\0', POPT_ARG_STRING, &co_opts.disk, 1,
    "the disk whose chain is changed (domain form)", "DISK" },
  { "top", '\0', POPT_ARG_STRING, &co_opts.top, 2,
    "the image to commit (with those below it down to the base); with --image, default ACTIVE",
    "IMG" },
  { "base", '\0', POPT_ARG_STRING, &co_opts.base, 3,
    "the image to commit into (default: TOP's backing file)", "IMG" },
  { "image", '\0', POPT_ARG_NONE, &co_opts.image, 4,
    "no domain: ACTIVE is the image at the top of the chain (no libvirt)", "ACTIVE" },
  POPT_TABLEEND
};

static int
cmd_commit(struct cmd_ctx *ctx, int argc, const char **argv)
{
  struct vk_imageop_result res = { 0 };
  int r;

  (void)argc;
  if (co_opts.image) {
    vk_set_context("commit");
    if (co_opts.disk) {
      vk_error(VK_EXIT_USAGE, "--image and --disk exclude each other");
      return -1;
    }
    r = vk_commit_image(argv[0], co_opts.top, co_opts.base, &res);
    if (r == 0)
      print_result(&res, NULL);
    vk_imageop_result_clear(&res);
    return r;
  }
  const char *domname = argv[0];
  vk_set_context("commit %s", domname);
  if (!co_opts.disk || !co_opts.top) {
    CLEANUP_FREE char *usage = cmd_usage(ctx->entry);
    vk_error(VK_EXIT_USAGE, "a domain's commit needs --disk and --top; usage: %s", usage);
    return -1;
  }
  if (vk_check_lookup_name("domain", domname) < 0)
    return -1;
  virConnectPtr conn = ctx_connect(ctx);
  if (!conn)
    return -1;
  CLEANUP_DOMAIN virDomainPtr dom = vk_domain_lookup(conn, domname);
  if (!dom)
    return -1;
  r = vk_commit_domain(dom, co_opts.disk, co_opts.top, co_opts.base, &res);
  if (r == 0)
    print_result(&res, domname);
  vk_imageop_result_clear(&res);
  return r;
}

const struct cmd_entry cmd_commit_entry = {
  .name = "commit",
  .args = "DOMAIN",
  .summary = "Commit images into their base, merging the bitmaps (shut-off domain, or --image)",
  .options = commit_options,
  .flags = CMD_CONNECTS,
  .min_args = 1, .max_args = 1,
  .exec = cmd_commit,
};
