/* vckpt - file-level restore: files ls, files get, files diff (lib/files.h). */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "cmd.h"

#include "files.h"
#include "repo.h"
#include "restic.h"
#include "vckpt.h"

static struct {
  char *repo, *at, *to, *from, *copy, *snapshot, *password_file;
  int os, long_list, owner, timeout, checksum, foreground;
} fo;

#define FILES_COMMON_OPTIONS \
  { "repo", '\0', POPT_ARG_STRING, &fo.repo, 1, \
    "backup repository (default: $VCKPT_REPO, else " VK_VAR_DIR ")", "DIR" }, \
  { "at", '\0', POPT_ARG_STRING, &fo.at, 2, \
    "this backup: its id, or the checkpoint it created (default: the newest)", "ID|CHK" }, \
  { "os", '\0', POPT_ARG_NONE, &fo.os, 3, \
    "paths are the guest's own tree, found by inspection (slower)", NULL }, \
  { "timeout", '\0', POPT_ARG_INT, &fo.timeout, 4, \
    "kill the appliance after this many seconds (default: 600)", "SECONDS" }

/* A restic copy instead of the repository: ls and get take it as restore
 * does (--from), diff, whose --from is a backup, as --copy.
 */
#define FILES_COPY_OPTIONS(name, val) \
  { name, '\0', POPT_ARG_STRING, &fo.copy, val, \
    "the copy in this restic repository (vckpt copy) instead of --repo", \
    "restic:REPOSITORY" }, \
  { "snapshot", '\0', POPT_ARG_STRING, &fo.snapshot, val + 1, \
    "with --" name ": this restic snapshot (default: the domain's newest copy)", "ID" }, \
  { "password-file", '\0', POPT_ARG_STRING, &fo.password_file, val + 2, \
    "with --" name ": restic's password in FILE (default: restic's RESTIC_PASSWORD_FILE...)", \
    "FILE" }

/* The restic copy the options name (OPTION: their name) in *RQ and
 * REQ->restic; 0, or -1 on a usage error (reported).
 */
static int
copy_request(const char *option, const char *domain, struct vk_restic_request *rq,
             struct vk_files_request *req)
{
  if (!fo.copy) {
    if (fo.snapshot || fo.password_file) {
      vk_error(VK_EXIT_USAGE, "--snapshot and --password-file go with --%s", option);
      return -1;
    }
    return 0;
  }
  if (!vk_restic_is(fo.copy)) {
    vk_error(VK_EXIT_USAGE, "--%s takes restic:REPOSITORY; a copy in a directory is a "
             "repository: --repo DIR", option);
    return -1;
  }
  if (fo.repo) {
    vk_error(VK_EXIT_USAGE, "--repo and --%s cannot be used together", option);
    return -1;
  }
  *rq = (struct vk_restic_request) {
    .where = fo.copy, .password_file = fo.password_file, .domain = domain,
    .snapshot = fo.snapshot,
  };
  req->restic = rq;
  return 0;
}

/* The request shared by the commands, or -1 (reported). */
static int
files_request(const char *domain, struct vk_files_request *req)
{
  if (vk_check_lookup_name("domain", domain) < 0 ||
      (fo.at && vk_check_lookup_name("checkpoint", fo.at) < 0))
    return -1;
  if (fo.timeout < 0 || (cmd_option_given("timeout") && fo.timeout == 0)) {
    vk_error(VK_EXIT_USAGE, "--timeout must be a number of seconds above 0");
    return -1;
  }
  *req = (struct vk_files_request) {
    .repo_dir = vk_default_repo(fo.repo), .domain = domain, .at = fo.at, .os = fo.os,
    .timeout = (unsigned)fo.timeout,
  };
  return 0;
}

/* ---- files ls ---- */

static const struct poptOption ls_options[] = {
  FILES_COMMON_OPTIONS,
  FILES_COPY_OPTIONS("from", 6),
  { "long", 'l', POPT_ARG_NONE, &fo.long_list, 5,
    "modes, owners, sizes, times and link targets", NULL },
  POPT_TABLEEND
};

/* "drwxr-xr-x" for entry E. */
static void
mode_string(const struct vk_file_entry *e, char buf[11])
{
  static const char rwx[] = "rwxrwxrwx";
  buf[0] = e->type == '-' ? '-' : e->type;
  for (int i = 0; i < 9; i++)
    buf[1 + i] = e->mode & (0400u >> i) ? rwx[i] : '-';
  if (e->mode & 04000)
    buf[3] = buf[3] == 'x' ? 's' : 'S';
  if (e->mode & 02000)
    buf[6] = buf[6] == 'x' ? 's' : 'S';
  if (e->mode & 01000)
    buf[9] = buf[9] == 'x' ? 't' : 'T';
  buf[10] = '\0';
}

static json_object *
entry_json(const struct vk_file_entry *e)
{
  json_object *o = json_object_new_object();
  CLEANUP_FREE char *name = vk_escape_name(e->name);
  char type[2] = { e->type, '\0' };
  json_object_object_add(o, "name", vk_json_string(name));
  json_object_object_add(o, "type", json_object_new_string(type));
  if (e->fstype) {
    CLEANUP_FREE char *t = vk_escape_name(e->fstype);
    json_object_object_add(o, "filesystem", vk_json_string(t));
    return o;
  }
  json_object_object_add(o, "mode", json_object_new_int64(e->mode));
  json_object_object_add(o, "size", json_object_new_int64((int64_t)e->size));
  json_object_object_add(o, "uid", json_object_new_int64((int64_t)e->uid));
  json_object_object_add(o, "gid", json_object_new_int64((int64_t)e->gid));
  json_object_object_add(o, "mtime", json_object_new_int64(e->mtime));
  if (e->target) {
    CLEANUP_FREE char *t = vk_escape_name(e->target);
    json_object_object_add(o, "target", vk_json_string(t));
  }
  return o;
}

static void
print_entries(const char *id, const struct vk_file_entry *e, size_t n)
{
  if (vk_json) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "backup", vk_json_string(id));
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < n; i++)
      json_object_array_add(arr, entry_json(&e[i]));
    json_object_object_add(o, "entries", arr);
    vk_out_json(o);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    CLEANUP_FREE char *name = vk_escape_name(e[i].name);
    if (!fo.long_list) {
      vk_printf("%s\n", name);
      continue;
    }
    if (e[i].fstype) {
      CLEANUP_FREE char *t = vk_escape_name(e[i].fstype);
      vk_printf("%-10s %s\n", t, name);
      continue;
    }
    char mode[11], when[64];
    mode_string(&e[i], mode);
    vk_format_time(e[i].mtime, when, sizeof when);
    CLEANUP_FREE char *target = e[i].target ? vk_escape_name(e[i].target) : NULL;
    vk_printf("%s %3llu %5llu %5llu %12llu %s %s%s%s\n", mode, (unsigned long long)e[i].nlink,
              (unsigned long long)e[i].uid, (unsigned long long)e[i].gid,
              (unsigned long long)e[i].size, when, name, target ? " -> " : "",
              target ? target : "");
  }
}

static int
cmd_files_ls(struct cmd_ctx *ctx, int argc, const char **argv)
{
  const char *domain = argv[0], *path = argc > 1 ? argv[1] : "/";
  vk_set_context("files ls %s", domain);
  struct vk_files_request req;
  struct vk_restic_request rq;
  if (files_request(domain, &req) < 0 || copy_request("from", domain, &rq, &req) < 0)
    return -1;
  struct vk_files *f = NULL;
  if (vk_files_open(&req, &f) < 0)
    return -1;
  struct vk_file_entry *e = NULL;
  size_t n = 0;
  int r = vk_files_ls(f, path, &e, &n);
  if (r == 0)
    print_entries(vk_files_backup_id(f), e, n);
  vk_file_entries_free(e, n);
  vk_files_close(f);
  return r;
}

const struct cmd_entry cmd_files_ls_entry = {
  .name = "files ls",
  .args = "DOMAIN [PATH]",
  .summary = "List the file systems of a backup, or files in one, through an appliance",
  .options = ls_options,
  .min_args = 1, .max_args = 2,
  .exec = cmd_files_ls,
};

/* ---- files get ---- */

static const struct poptOption get_options[] = {
  FILES_COMMON_OPTIONS,
  { "to", '\0', POPT_ARG_STRING, &fo.to, 5, "existing directory to copy into", "DIR" },
  { "owner", '\0', POPT_ARG_NONE, &fo.owner, 6,
    "keep the guest's owners and whole modes (else vckpt's user, group and other bits "
    "dropped)", NULL },
  FILES_COPY_OPTIONS("from", 7),
  POPT_TABLEEND
};
static const char *const get_required[] = { "to", NULL };

static int
cmd_files_get(struct cmd_ctx *ctx, int argc, const char **argv)
{
  const char *domain = argv[0];
  vk_set_context("files get %s", domain);
  struct vk_files_request req;
  struct vk_restic_request rq;
  if (files_request(domain, &req) < 0 || copy_request("from", domain, &rq, &req) < 0)
    return -1;
  struct vk_files *f = NULL;
  if (vk_files_open(&req, &f) < 0)
    return -1;
  struct vk_files_got got = { 0 };
  int r = vk_files_get(f, (char *const *)argv + 1, fo.to, fo.owner, &got);
  if (r == 0) {
    const char *id = vk_files_backup_id(f);
    if (vk_json) {
      json_object *o = json_object_new_object();
      json_object_object_add(o, "backup", vk_json_string(id));
      json_object_object_add(o, "snapshot", vk_json_string(vk_files_snapshot_id(f)));
      json_object_object_add(o, "to", vk_json_string(fo.to));
      json_object_object_add(o, "listed", json_object_new_int64((int64_t)got.listed));
      json_object_object_add(o, "written", json_object_new_int64((int64_t)got.written));
      json_object_object_add(o, "skipped", json_object_new_int64((int64_t)got.skipped));
      json_object_object_add(o, "files", json_object_new_int64((int64_t)got.files));
      json_object_object_add(o, "directories", json_object_new_int64((int64_t)got.dirs));
      json_object_object_add(o, "links", json_object_new_int64((int64_t)got.links));
      json_object_object_add(o, "bytes", json_object_new_int64((int64_t)got.bytes));
      vk_out_json(o);
    } else if (!vk_quiet) {
      char size[32];
      vk_human_size(got.bytes, size, sizeof size);
      vk_printf("Copied %zu of %zu entries listed (%zu files, %zu directories, %zu links, "
                "%s) of backup %s of %s", got.written, got.listed, got.files, got.dirs,
                got.links, size, id, domain);
      if (vk_files_snapshot_id(f))
        vk_printf(" from snapshot %s of %s", vk_files_snapshot_id(f), fo.copy);
      vk_printf(" into %s", fo.to);
      if (got.skipped)
        vk_printf("; %zu device nodes, FIFOs or sockets not copied", got.skipped);
      vk_printf("\n");
    }
  }
  vk_files_close(f);
  return r;
}

const struct cmd_entry cmd_files_get_entry = {
  .name = "files get",
  .args = "DOMAIN PATH...",
  .summary = "Copy files and trees out of a backup through an appliance, checked complete",
  .options = get_options,
  .required = get_required,
  .min_args = 2, .max_args = -1,
  .exec = cmd_files_get,
};

/* ---- files diff ---- */

static const struct poptOption diff_options[] = {
  { "repo", '\0', POPT_ARG_STRING, &fo.repo, 1,
    "backup repository (default: $VCKPT_REPO, else " VK_VAR_DIR ")", "DIR" },
  { "from", '\0', POPT_ARG_STRING, &fo.from, 2,
    "the older backup: its id, or the checkpoint it created", "ID|CHK" },
  { "to", '\0', POPT_ARG_STRING, &fo.to, 3,
    "the newer backup: its id, or the checkpoint it created", "ID|CHK" },
  { "os", '\0', POPT_ARG_NONE, &fo.os, 4,
    "paths are the guest's own tree, found by inspection (slower)", NULL },
  { "timeout", '\0', POPT_ARG_INT, &fo.timeout, 5,
    "kill the appliance after this many seconds (default: 600)", "SECONDS" },
  { "checksum", '\0', POPT_ARG_NONE, &fo.checksum, 6,
    "also compare the contents (SHA-256) of files whose size, time and mode are alike "
    "(reads them all)", NULL },
  FILES_COPY_OPTIONS("copy", 7),
  POPT_TABLEEND
};
static const char *const diff_required[] = { "from", "to", NULL };

/* The names of the VK_CHANGE_* bits, in order. */
static const char *const change_names[] = {
  "type", "size", "mode", "owner", "mtime", "target", "contents", "unreadable",
};

static void
print_changes(const char *from, const char *to, const struct vk_file_change *c, size_t n)
{
  if (vk_json) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "from", vk_json_string(from));
    json_object_object_add(o, "to", vk_json_string(to));
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
      json_object *e = json_object_new_object();
      CLEANUP_FREE char *path = vk_escape_name(c[i].path);
      char what[2] = { c[i].what, '\0' };
      json_object_object_add(e, "change", json_object_new_string(what));
      json_object_object_add(e, "path", vk_json_string(path));
      if (c[i].what == 'M') {
        json_object *d = json_object_new_array();
        for (size_t b = 0; b < sizeof change_names / sizeof *change_names; b++)
          if (c[i].fields & (1u << b))
            json_object_array_add(d, json_object_new_string(change_names[b]));
        json_object_object_add(e, "differs", d);
      }
      json_object_array_add(arr, e);
    }
    json_object_object_add(o, "changes", arr);
    vk_out_json(o);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    CLEANUP_FREE char *path = vk_escape_name(c[i].path);
    vk_printf("%c %s\n", c[i].what, path);
  }
}

static int
cmd_files_diff(struct cmd_ctx *ctx, int argc, const char **argv)
{
  const char *domain = argv[0], *path = argc > 1 ? argv[1] : "/";
  vk_set_context("files diff %s", domain);
  if (vk_check_lookup_name("domain", domain) < 0 ||
      vk_check_lookup_name("checkpoint", fo.from) < 0 ||
      vk_check_lookup_name("checkpoint", fo.to) < 0)
    return -1;
  if (fo.timeout < 0 || (cmd_option_given("timeout") && fo.timeout == 0)) {
    vk_error(VK_EXIT_USAGE, "--timeout must be a number of seconds above 0");
    return -1;
  }
  struct vk_files_request req = {
    .repo_dir = vk_default_repo(fo.repo), .domain = domain, .at = fo.from, .at2 = fo.to,
    .os = fo.os, .timeout = (unsigned)fo.timeout,
  };
  struct vk_restic_request rq;
  if (copy_request("copy", domain, &rq, &req) < 0)
    return -1;
  struct vk_files *f = NULL;
  if (vk_files_open(&req, &f) < 0)
    return -1;
  struct vk_file_change *c = NULL;
  size_t n = 0;
  int r = vk_files_diff(f, path, fo.checksum, &c, &n);
  if (r == 0)
    print_changes(vk_files_backup_id(f), vk_files_backup_id2(f), c, n);
  vk_file_changes_free(c, n);
  vk_files_close(f);
  return r;
}

const struct cmd_entry cmd_files_diff_entry = {
  .name = "files diff",
  .args = "DOMAIN [PATH]",
  .summary = "List the files added, removed and changed between two backups",
  .options = diff_options,
  .required = diff_required,
  .min_args = 1, .max_args = 2,
  .exec = cmd_files_diff,
};

/* ---- files mount, files umount ---- */

static const struct poptOption mount_options[] = {
  FILES_COMMON_OPTIONS,
  { "foreground", '\0', POPT_ARG_NONE, &fo.foreground, 5,
    "stay in the foreground until unmounted (a systemd service); default: return once "
    "mounted", NULL },
  FILES_COPY_OPTIONS("from", 6),
  POPT_TABLEEND
};

/* Open the backup and serve it at ABS until unmounted; READY_FD: as
 * vk_files_serve.
 */
static int
serve(const char *domain, const char *abs, int ready_fd)
{
  struct vk_files_request req;
  struct vk_restic_request rq;
  if (files_request(domain, &req) < 0 || copy_request("from", domain, &rq, &req) < 0)
    return -1;
  req.mount = true;
  struct vk_files *f = NULL;
  if (vk_files_open(&req, &f) < 0)
    return -1;
  int r = vk_files_serve(f, abs, ready_fd);
  vk_files_close(f);
  return r;
}

static int
cmd_files_mount(struct cmd_ctx *ctx, int argc, const char **argv)
{
  const char *domain = argv[0], *mountpoint = argv[1];
  vk_set_context("files mount %s", domain);
  struct vk_files_request req;
  struct vk_restic_request rq;
  CLEANUP_FREE char *abs = NULL;
  if (files_request(domain, &req) < 0 || copy_request("from", domain, &rq, &req) < 0 ||
      vk_files_mount_point(mountpoint, &abs) < 0)
    return -1;
  if (fo.foreground)
    return serve(domain, abs, -1);
  /* vckpt again, as the hidden "files serve" with the same options: it
   * owns the appliance for the mount's life.
   */
  CLEANUP_FREE char *timeout = vk_xasprintf("%d", fo.timeout);
  const char *args[20];
  size_t n = 0;
  args[n++] = "files";
  args[n++] = "serve";
  if (!fo.copy) {
    args[n++] = "--repo";
    args[n++] = req.repo_dir;
  }
  const char *const copy_args[][2] = {
    { "--from", fo.copy }, { "--snapshot", fo.snapshot }, { "--password-file", fo.password_file },
  };
  for (size_t k = 0; k < 3; k++)
    if (copy_args[k][1]) {
      args[n++] = copy_args[k][0];
      args[n++] = copy_args[k][1];
    }
  if (fo.at) {
    args[n++] = "--at";
    args[n++] = fo.at;
  }
  if (fo.os)
    args[n++] = "--os";
  if (cmd_option_given("timeout")) {
    args[n++] = "--timeout";
    args[n++] = timeout;
  }
  args[n++] = "--";
  args[n++] = domain;
  args[n++] = abs;
  args[n] = NULL;
  CLEANUP_STRV char **child = cmd_child_args(ctx, args);
  pid_t pid;
  CLEANUP_FREE char *id = NULL;
  if (vk_files_mount_start(child, &pid, &id) < 0)
    return -1;
  CLEANUP_FREE char *m = vk_escape_name(abs), *i = vk_escape_name(id);
  if (vk_json) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "backup", vk_json_string(i));
    json_object_object_add(o, "mountpoint", vk_json_string(m));
    json_object_object_add(o, "pid", json_object_new_int64(pid));
    vk_out_json(o);
  } else if (!vk_quiet)
    vk_printf("Mounted backup %s of %s at %s (process %ld); unmount with: vckpt files "
              "umount %s\n", i, domain, m, (long)pid, m);
  return 0;
}

const struct cmd_entry cmd_files_mount_entry = {
  .name = "files mount",
  .args = "DOMAIN MOUNTPOINT",
  .summary = "Mount a backup's file systems read-only (FUSE) for browsing",
  .options = mount_options,
  .min_args = 2, .max_args = 2,
  .exec = cmd_files_mount,
};

/* The process of a files mount (vk_files_serve): started by files mount,
 * never by hand; its descriptor 3 is the pipe it says "ready" on.
 */
static int
cmd_files_serve(struct cmd_ctx *ctx, int argc, const char **argv)
{
  vk_set_context("files mount %s", argv[0]);
  if (vk_files_ready_fd_check(3) < 0)
    return -1;
  return serve(argv[0], argv[1], 3);
}

const struct cmd_entry cmd_files_serve_entry = {
  .name = "files serve",
  .args = "DOMAIN MOUNTPOINT",
  .summary = "Internal: the process of a files mount",
  .options = mount_options,
  .flags = CMD_HIDDEN,
  .min_args = 2, .max_args = 2,
  .exec = cmd_files_serve,
};

static const struct poptOption umount_options[] = {
  POPT_TABLEEND
};

static int
cmd_files_umount(struct cmd_ctx *ctx, int argc, const char **argv)
{
  vk_set_context("files umount");
  pid_t pid = 0;
  if (vk_files_umount(argv[0], &pid) < 0)
    return -1;
  CLEANUP_FREE char *m = vk_escape_name(argv[0]);
  if (vk_json) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "mountpoint", vk_json_string(m));
    json_object_object_add(o, "pid", pid ? json_object_new_int64(pid) : NULL);
    vk_out_json(o);
  } else if (!vk_quiet)
    vk_printf("Unmounted %s; its appliance has ended\n", m);
  return 0;
}

const struct cmd_entry cmd_files_umount_entry = {
  .name = "files umount",
  .args = "MOUNTPOINT",
  .summary = "Unmount a files mount and wait until its appliance has ended",
  .options = umount_options,
  .min_args = 1, .max_args = 1,
  .exec = cmd_files_umount,
};
