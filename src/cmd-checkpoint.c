/* vckpt - checkpoint commands: create, list, info, dumpxml, delete, redefine. */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "checkpoint-xml.h"
#include "checkpoint.h"
#include "vckpt.h"
#include "virt.h"
#include "xml.h"

/* Resolve the connection and domain for a command taking DOMAIN first. */
static virDomainPtr
open_domain(struct cmd_ctx *ctx, const char *name)
{
  if (vk_check_lookup_name("domain", name) < 0)
    return NULL;
  virConnectPtr conn = ctx_connect(ctx);
  if (!conn)
    return NULL;
  return vk_domain_lookup(conn, name);
}

/* JSON form of a checkpoint, shared by list and info. */
static json_object *
ckpt_json(const struct vk_ckpt *c)
{
  json_object *o = json_object_new_object();
  char when[64];
  vk_format_time(c->creation_time, when, sizeof when);
  json_object_object_add(o, "name", vk_json_string(c->name));
  json_object_object_add(o, "parent", vk_json_string(c->parent));
  json_object_object_add(o, "creation_time", json_object_new_int64(c->creation_time));
  json_object_object_add(o, "created", json_object_new_string(when));
  json_object_object_add(o, "description", vk_json_string(c->description));
  json_object *disks = json_object_new_array();
  for (size_t i = 0; i < c->nr_disks; i++) {
    const struct vk_ckpt_disk *d = &c->disks[i];
    json_object *jd = json_object_new_object();
    json_object_object_add(jd, "name", vk_json_string(d->name));
    json_object_object_add(jd, "checkpoint",
                           json_object_new_string(d->bitmap ? "bitmap" : "no"));
    json_object_object_add(jd, "bitmap", vk_json_string(d->bitmap ? d->bitmap_name : NULL));
    if (d->bitmap && d->size >= 0)
      json_object_object_add(jd, "size", json_object_new_int64(d->size));
    json_object_array_add(disks, jd);
  }
  json_object_object_add(o, "disks", disks);
  return o;
}

/* "vda,vdb" of the disks that have a bitmap in this checkpoint. */
static char *
ckpt_disk_list(const struct vk_ckpt *c)
{
  char **v = vk_xcalloc(c->nr_disks + 1, sizeof *v);
  size_t n = 0;
  for (size_t i = 0; i < c->nr_disks; i++)
    if (c->disks[i].bitmap)
      v[n++] = c->disks[i].name;
  char *r = n ? vk_strv_join(v, ",") : vk_xstrdup("-");
  free(v);
  return r;
}

/* ---- checkpoint create ---- */

static struct {
  char *description;
  char *disks;
  int quiesce;
  int print_xml;
} create_opts;

static const struct poptOption create_options[] = {
  { "description", '\0', POPT_ARG_STRING, &create_opts.description, 1,
    "free-form description of the checkpoint", "TEXT" },
  { "disk", '\0', POPT_ARG_STRING, &create_opts.disks, 2,
    "only these disks get a bitmap (default: all disks)", "DISK[,DISK...]" },
  { "quiesce", '\0', POPT_ARG_NONE, &create_opts.quiesce, 3,
    "freeze guest file systems first (needs the guest agent)", NULL },
  { "print-xml", '\0', POPT_ARG_NONE, &create_opts.print_xml, 4,
    "print the checkpoint XML instead of creating it (reads the domain's disks "
    "with --disk, changes nothing)", NULL },
  POPT_TABLEEND
};

static int
cmd_checkpoint_create(struct cmd_ctx *ctx, int argc, const char **argv)
{
  const char *domname = argv[0], *name = argc > 1 ? argv[1] : NULL;
  CLEANUP_STRV char **disks = NULL;

  vk_set_context("checkpoint create %s", domname);
  if (vk_check_lookup_name("domain", domname) < 0)
    return -1;
  if (name && vk_check_name("checkpoint", name) < 0)
    return -1;
  if (create_opts.disks && vk_split_list("disk", create_opts.disks, &disks) < 0)
    return -1;

  /* With --disk the XML names every disk (checkpoint='no' for the others),
   * so the domain's disks are read even for --print-xml.
   */
  CLEANUP_DOMAIN virDomainPtr dom = NULL;
  if (!create_opts.print_xml || disks) {
    dom = open_domain(ctx, domname);
    if (!dom)
      return -1;
  }
  struct vk_checkpoint_new spec = {
    .name = name, .description = create_opts.description, .disks = disks,
    .quiesce = create_opts.quiesce,
  };
  if (create_opts.print_xml) {
    CLEANUP_FREE char *xml = vk_checkpoint_new_xml(dom, &spec);
    if (!xml)
      return -1;
    vk_printf("%s", xml);
    return 0;
  }
  CLEANUP_FREE char *created = vk_checkpoint_create(dom, &spec);
  if (!created)
    return -1;
  if (vk_json) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "domain", json_object_new_string(domname));
    json_object_object_add(o, "checkpoint", json_object_new_string(created));
    vk_out_json(o);
  } else if (!vk_quiet)
    vk_printf("Checkpoint %s of domain %s created\n", created, domname);
  else
    vk_printf("%s\n", created);
  return 0;
}

const struct cmd_entry cmd_checkpoint_create_entry = {
  .name = "checkpoint create",
  .args = "DOMAIN [NAME]",
  .summary = "Create a checkpoint: start tracking changed blocks of the disks",
  .options = create_options,
  .flags = CMD_CONNECTS,
  .min_args = 1, .max_args = 2,
  .exec = cmd_checkpoint_create,
};

/* ---- checkpoint list ---- */

static struct {
  int tree, roots, leaves, parent;
} list_opts;

static const struct poptOption list_options[] = {
  { "tree", '\0', POPT_ARG_NONE, &list_opts.tree, 1,
    "draw the checkpoint hierarchy as a tree", NULL },
  { "roots", '\0', POPT_ARG_NONE, &list_opts.roots, 2,
    "list only checkpoints without a parent", NULL },
  { "leaves", '\0', POPT_ARG_NONE, &list_opts.leaves, 3,
    "list only checkpoints without children", NULL },
  { "parent", '\0', POPT_ARG_NONE, &list_opts.parent, 4,
    "list only checkpoints that have children", NULL },
  POPT_TABLEEND
};
static const char *const list_exclusive[] = { "tree", "roots", "leaves", "parent", NULL };

/* Print the subtree under PARENT (NULL: the roots), text or JSON. */
static void
print_tree(const struct vk_ckpt_list *l, const char *parent, const char *indent,
           json_object *jarr)
{
  size_t last = l->n;
  for (size_t i = 0; i < l->n; i++) {
    const char *p = l->c[i].parent;
    bool is_child = parent ? (p && strcmp(p, parent) == 0)
                           : (!p || !vk_ckpt_list_find(l, p));
    if (is_child)
      last = i;
  }
  for (size_t i = 0; i < l->n; i++) {
    const struct vk_ckpt *c = &l->c[i];
    const char *p = c->parent;
    bool is_child = parent ? (p && strcmp(p, parent) == 0)
                           : (!p || !vk_ckpt_list_find(l, p));
    if (!is_child)
      continue;
    if (jarr) {
      json_object *o = ckpt_json(c);
      json_object *kids = json_object_new_array();
      print_tree(l, c->name, NULL, kids);
      json_object_object_add(o, "children", kids);
      json_object_array_add(jarr, o);
      continue;
    }
    CLEANUP_FREE char *sub = NULL;
    if (!parent) {
      vk_printf("%s\n", c->name);
      sub = vk_xstrdup("");
    } else {
      vk_printf("%s%s%s\n", indent, i == last ? "`- " : "+- ", c->name);
      sub = vk_xasprintf("%s%s", indent, i == last ? "   " : "|  ");
    }
    print_tree(l, c->name, sub, NULL);
  }
}

static int
cmd_checkpoint_list(struct cmd_ctx *ctx, int argc, const char **argv)
{
  const char *domname = argv[0];
  vk_set_context("checkpoint list %s", domname);
  CLEANUP_DOMAIN virDomainPtr dom = open_domain(ctx, domname);
  if (!dom)
    return -1;

  unsigned int flags = 0;
  if (list_opts.roots)
    flags |= VIR_DOMAIN_CHECKPOINT_LIST_ROOTS;
  if (list_opts.leaves)
    flags |= VIR_DOMAIN_CHECKPOINT_LIST_LEAVES;
  if (list_opts.parent)
    flags |= VIR_DOMAIN_CHECKPOINT_LIST_NO_LEAVES;
  struct vk_ckpt_list l = { 0 };
  if (vk_ckpt_list_all(dom, flags, &l) < 0)
    return -1;

  if (list_opts.tree) {
    json_object *arr = vk_json ? json_object_new_array() : NULL;
    print_tree(&l, NULL, "", arr);
    if (arr)
      vk_out_json(arr);
  } else if (vk_json) {
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < l.n; i++)
      json_object_array_add(arr, ckpt_json(&l.c[i]));
    vk_out_json(arr);
  } else {
    size_t w = strlen("NAME"), pw = strlen("PARENT");
    for (size_t i = 0; i < l.n; i++) {
      if (strlen(l.c[i].name) > w)
        w = strlen(l.c[i].name);
      if (l.c[i].parent && strlen(l.c[i].parent) > pw)
        pw = strlen(l.c[i].parent);
    }
    vk_printf("%-*s  %-25s  %-*s  %s\n", (int)w, "NAME", "CREATED", (int)pw, "PARENT", "DISKS");
    for (size_t i = 0; i < l.n; i++) {
      const struct vk_ckpt *c = &l.c[i];
      char when[64];
      vk_format_time(c->creation_time, when, sizeof when);
      CLEANUP_FREE char *dl = ckpt_disk_list(c);
      vk_printf("%-*s  %-25s  %-*s  %s\n", (int)w, c->name, when, (int)pw,
                c->parent ? c->parent : "-", dl);
    }
  }
  vk_ckpt_list_clear(&l);
  return 0;
}

const struct cmd_entry cmd_checkpoint_list_entry = {
  .name = "checkpoint list",
  .args = "DOMAIN",
  .summary = "List the checkpoints of a domain",
  .options = list_options,
  .exclusive = list_exclusive,
  .flags = CMD_CONNECTS,
  .min_args = 1, .max_args = 1,
  .exec = cmd_checkpoint_list,
};

/* ---- checkpoint info ---- */

static struct {
  int size;
} info_opts;

static const struct poptOption info_options[] = {
  { "size", '\0', POPT_ARG_NONE, &info_opts.size, 1,
    "show the bytes changed since the checkpoint (running domain)", NULL },
  POPT_TABLEEND
};

static int
cmd_checkpoint_info(struct cmd_ctx *ctx, int argc, const char **argv)
{
  const char *domname = argv[0], *name = argv[1];
  vk_set_context("checkpoint info %s %s", domname, name);
  CLEANUP_DOMAIN virDomainPtr dom = open_domain(ctx, domname);
  if (!dom)
    return -1;
  if (info_opts.size && !vk_domain_is_active(dom)) {
    /* A missing checkpoint is the first thing to say. */
    int e = vk_checkpoint_exists(dom, name);
    if (e == 0)
      vk_error(VK_EXIT_NOT_FOUND, "checkpoint '%s' not found in domain '%s'", name, domname);
    else if (e > 0)
      vk_error(VK_EXIT_FAILURE, "--size needs a running domain: '%s' is not running", domname);
    return -1;
  }
  struct vk_ckpt c = { 0 };
  char **kid_names = NULL;
  if (vk_checkpoint_read(dom, name, info_opts.size, &c, &kid_names) < 0)
    return -1;
  size_t nkids = vk_strv_len(kid_names);

  if (vk_json) {
    json_object *o = ckpt_json(&c);
    json_object *jk = json_object_new_array();
    for (size_t i = 0; i < nkids; i++)
      json_object_array_add(jk, json_object_new_string(kid_names[i]));
    json_object_object_add(o, "children", jk);
    json_object_object_add(o, "domain", json_object_new_string(domname));
    vk_out_json(o);
  } else {
    char when[64];
    vk_format_time(c.creation_time, when, sizeof when);
    CLEANUP_FREE char *kl = nkids ? vk_strv_join(kid_names, ", ") : vk_xstrdup("-");
    vk_printf("Name:        %s\nDomain:      %s\nCreated:     %s\nParent:      %s\n"
              "Children:    %s\n",
              c.name, domname, when, c.parent ? c.parent : "-", kl);
    if (c.description)
      vk_printf("Description: %s\n", c.description);
    vk_printf("Disks:\n");
    for (size_t i = 0; i < c.nr_disks; i++) {
      const struct vk_ckpt_disk *d = &c.disks[i];
      if (!d->bitmap) {
        vk_printf("  %-6s no bitmap\n", d->name);
        continue;
      }
      vk_printf("  %-6s bitmap %s", d->name, d->bitmap_name ? d->bitmap_name : c.name);
      if (info_opts.size) {
        char hs[32];
        if (d->size >= 0) {
          vk_human_size(d->size, hs, sizeof hs);
          vk_printf(", changed since: %s (%lld bytes)", hs, d->size);
        } else
          vk_printf(", changed since: unknown (bitmap missing or inconsistent; "
                    "run 'vckpt validate %s')", domname);
      }
      vk_printf("\n");
    }
  }
  if (info_opts.size)
    for (size_t i = 0; i < c.nr_disks; i++)
      if (c.disks[i].bitmap && c.disks[i].size < 0)
        vk_warn("disk %s: libvirt reported no size for bitmap '%s': it is missing or "
                "inconsistent", c.disks[i].name, c.disks[i].bitmap_name);
  vk_strv_free(kid_names);
  vk_ckpt_clear(&c);
  return 0;
}

const struct cmd_entry cmd_checkpoint_info_entry = {
  .name = "checkpoint info",
  .args = "DOMAIN NAME",
  .summary = "Show a checkpoint: parent, children, disks, bitmaps, changed bytes",
  .options = info_options,
  .flags = CMD_CONNECTS,
  .min_args = 2, .max_args = 2,
  .exec = cmd_checkpoint_info,
};

/* ---- checkpoint dumpxml ---- */

static int
cmd_checkpoint_dumpxml(struct cmd_ctx *ctx, int argc, const char **argv)
{
  const char *domname = argv[0], *name = argv[1];
  vk_set_context("checkpoint dumpxml %s %s", domname, name);
  CLEANUP_DOMAIN virDomainPtr dom = open_domain(ctx, domname);
  if (!dom)
    return -1;
  CLEANUP_FREE char *xml = vk_checkpoint_dumpxml(dom, name);
  if (!xml)
    return -1;
  vk_printf("%s", xml);
  return 0;
}

const struct cmd_entry cmd_checkpoint_dumpxml_entry = {
  .name = "checkpoint dumpxml",
  .args = "DOMAIN NAME",
  .summary = "Print the XML of a checkpoint, as libvirt stores it",
  .flags = CMD_CONNECTS,
  .min_args = 2, .max_args = 2,
  .exec = cmd_checkpoint_dumpxml,
};

/* ---- checkpoint delete ---- */

static struct {
  int children, metadata_only;
} delete_opts;

static const struct poptOption delete_options[] = {
  { "children", '\0', POPT_ARG_NONE, &delete_opts.children, 1,
    "also delete all descendants of the checkpoint", NULL },
  { "metadata-only", '\0', POPT_ARG_NONE, &delete_opts.metadata_only, 2,
    "delete libvirt's metadata only, leave the bitmaps in the images", NULL },
  POPT_TABLEEND
};

static int
cmd_checkpoint_delete(struct cmd_ctx *ctx, int argc, const char **argv)
{
  const char *domname = argv[0], *name = argv[1];
  vk_set_context("checkpoint delete %s %s", domname, name);
  CLEANUP_DOMAIN virDomainPtr dom = open_domain(ctx, domname);
  if (!dom)
    return -1;
  unsigned int flags = (delete_opts.children ? VK_CKPT_DELETE_CHILDREN : 0) |
                       (delete_opts.metadata_only ? VK_CKPT_DELETE_METADATA_ONLY : 0);
  if (vk_checkpoint_delete(dom, name, flags, NULL) < 0)
    return -1;
  if (vk_json) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "domain", json_object_new_string(domname));
    json_object_object_add(o, "deleted", json_object_new_string(name));
    vk_out_json(o);
  } else if (!vk_quiet)
    vk_printf("Checkpoint %s%s of domain %s deleted\n", name,
              delete_opts.children ? " and its descendants" : "", domname);
  return 0;
}

const struct cmd_entry cmd_checkpoint_delete_entry = {
  .name = "checkpoint delete",
  .args = "DOMAIN NAME",
  .summary = "Delete a checkpoint (merging its bitmap into its parent's)",
  .options = delete_options,
  .flags = CMD_CONNECTS,
  .min_args = 2, .max_args = 2,
  .exec = cmd_checkpoint_delete,
};

/* ---- checkpoint redefine ---- */

static int
cmd_checkpoint_redefine(struct cmd_ctx *ctx, int argc, const char **argv)
{
  const char *domname = argv[0];
  vk_set_context("checkpoint redefine %s", domname);
  struct vk_redefine_set *set = vk_redefine_load(argv + 1, argc - 1);
  if (!set)
    return -1;
  CLEANUP_DOMAIN virDomainPtr dom = open_domain(ctx, domname);
  CLEANUP_STRV char **names = NULL;
  int r = dom ? vk_checkpoint_redefine(dom, set, 0, &names, NULL, NULL) : -1;
  vk_redefine_set_free(set);
  if (r < 0)
    return -1;
  if (vk_json) {
    json_object *arr = json_object_new_array();
    for (size_t i = 0; names[i]; i++)
      json_object_array_add(arr, json_object_new_string(names[i]));
    vk_out_json(arr);
  } else if (!vk_quiet)
    for (size_t i = 0; names[i]; i++)
      vk_printf("Checkpoint %s of domain %s redefined\n", names[i], domname);
  return 0;
}

const struct cmd_entry cmd_checkpoint_redefine_entry = {
  .name = "checkpoint redefine",
  .args = "DOMAIN FILE...",
  .summary = "Restore checkpoint metadata from XML files (parents first, all or none)",
  .flags = CMD_CONNECTS,
  .min_args = 2, .max_args = -1,
  .exec = cmd_checkpoint_redefine,
};
