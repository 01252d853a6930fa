/* vckpt - the policy file (lib/policy.c; default /etc/vckpt/vckpt.conf), read with
 * libconfuse (typed values, titled sections, errors with file and line).
 *
 *   repository = "/srv/backup"        # default repository
 *   jobs = 2                          # domains backed up at a time (--all)
 *   quiesce = false
 *   full-every-backups = 7            # level schedule: a new full chain
 *   full-every-days = 30              #   every N backups, or N days
 *   exclude-disks = {"vdc"}
 *   retention {
 *     keep-last = 3
 *     keep-daily = 7
 *     keep-weekly = 4
 *     keep-monthly = 6
 *     keep-yearly = 1
 *     keep-hourly = 0
 *     keep-within = "2d"
 *   }
 *   max-age = "26h"                   # status: a backup older is stale
 *   domain "web*" {                   # a name or a glob pattern (fnmatch)
 *     repository = ...  jobs ... (any setting above but jobs)
 *     retention { ... }
 *   }
 *   host hv1 {                        # a hypervisor backup --all spans
 *     uri = "qemu+tcp://10.0.0.2/system"
 *     jobs = 2                        # its domains backed up at a time
 *   }
 *
 * A domain's policy: the section whose title is exactly its name, else
 * the first whose pattern matches it (in the order of the file), else
 * none; each setting the section leaves out comes from the top level.
 * A retention block replaces the top level's as a whole.
 */
#ifndef VCKPT_POLICY_H
#define VCKPT_POLICY_H

#include <stdbool.h>

#include "retention.h"

#define VK_CONFIG_DEFAULT "/etc/vckpt/vckpt.conf"

struct vk_policy_file;

/* The policy of one domain.  Strings point into the config. */
struct vk_policy {
  const char *section;       /* the domain section's title, or NULL */
  const char *repo;          /* or NULL */
  int jobs;                  /* 0: not set */
  int quiesce;               /* -1: not set, else 0 or 1 */
  int full_every_backups;    /* 0: not set */
  int full_every_days;       /* 0: not set */
  char **exclude_disks;      /* NULL-terminated; never NULL; owned by the config */
  int pull;                  /* -1: not set, else 0 or 1 */
  int compress;              /* -1: not set, 0 none, 1 zstd */
  const char *scratch_dir;   /* pull mode: the hypervisor's directory for scratch files */
  char **copy_to;            /* backup --copy: the DESTs copied to after a backup;
                                NULL-terminated, never NULL, owned by the config */
  const char *restic_password_file;   /* for a copy-to restic:REPOSITORY */
  const char *nbd_tls_dir;   /* pull mode from remote hosts: the client's certificates */
  int port_min, port_max;    /* pull mode from remote hosts: the TCP ports (0: not set) */
  int nbd_timeout;           /* pull mode from remote hosts: seconds of silence (0: not set) */
  struct vk_retention retention;
  const char *max_age;       /* status: a duration ("26h"), or NULL */
};

/* A hypervisor of the policy file (a host section). */
struct vk_policy_host {
  const char *name;          /* the section's title */
  const char *uri;           /* its libvirt URI */
  int jobs;                  /* 0: not set */
};

/* Parse "FIRST-LAST", a range of TCP ports; -1 if S is not one. */
int vk_port_range_parse(const char *s, int *min, int *max);
/* The file to read: GIVEN (--config), else $VCKPT_CONFIG, else the
 * default; *EXPLICIT says whether it was named (a named file must exist,
 * the default may not).
 */
const char *vk_policy_path(const char *given, bool *explicit_);
/* Read and check the policy file (see vk_policy_path); a missing default
 * file is an empty policy.  Errors are VK_EXIT_USAGE, "FILE:LINE: ...";
 * a named file that does not exist is VK_EXIT_NOT_FOUND.
 */
int vk_policy_load(const char *given, struct vk_policy_file **out);
/* The file it was read from, or NULL when there was none. */
const char *vk_policy_file_name(const struct vk_policy_file *cfg);
/* The policy of domain NAME (CFG may be NULL: an empty policy). */
void vk_policy_domain(const struct vk_policy_file *cfg, const char *name, struct vk_policy *out);
/* The number of domain sections. */
unsigned vk_policy_sections(const struct vk_policy_file *cfg);
/* The number of host sections, and host I of them (in the file's order). */
unsigned vk_policy_hosts(const struct vk_policy_file *cfg);
void vk_policy_host(const struct vk_policy_file *cfg, unsigned i, struct vk_policy_host *out);
/* The repositories the file names: the top level's (else FALLBACK, the
 * default repository), then the domain sections' in the file's order, each
 * once (CFG may be NULL): a new NULL-terminated vector.
 */
char **vk_policy_repositories(const struct vk_policy_file *cfg, const char *fallback);
void vk_policy_file_free(struct vk_policy_file *cfg);

#endif
