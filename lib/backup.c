/* vckpt - push-mode backup jobs through libvirt. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <libvirt/virterror.h>

#include "backup.h"
#include "util.h"
#include "virt.h"
#include "xml.h"

extern char **environ;
volatile sig_atomic_t vk_stop_signal;

unsigned int
vk_backup_begin_flags(unsigned long libvirt_version)
{
  unsigned int flags = VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL;
  if (libvirt_version >= 11010000)
    flags |= VIR_DOMAIN_BACKUP_BEGIN_PRESERVE_SHUTDOWN_DOMAIN;
  return flags;
}

xmlDocPtr
vk_backup_xml(const char *incremental, const struct vk_job_disk *disks, size_t n,
              char *const *all)
{
  xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
  xmlNodePtr root = xmlNewNode(NULL, (const xmlChar *)"domainbackup");
  xmlDocSetRootElement(doc, root);
  xmlNewProp(root, (const xmlChar *)"mode", (const xmlChar *)"push");
  if (incremental)
    vk_xml_add_text(root, "incremental", incremental);
  xmlNodePtr xdisks = xmlNewChild(root, NULL, (const xmlChar *)"disks", NULL);
  for (size_t i = 0; all && all[i]; i++) {
    const struct vk_job_disk *d = NULL;
    for (size_t j = 0; j < n && !d; j++)
      if (strcmp(disks[j].target, all[i]) == 0)
        d = &disks[j];
    xmlNodePtr x = xmlNewChild(xdisks, NULL, (const xmlChar *)"disk", NULL);
    xmlNewProp(x, (const xmlChar *)"name", (const xmlChar *)all[i]);
    if (!d) {
      xmlNewProp(x, (const xmlChar *)"backup", (const xmlChar *)"no");
      continue;
    }
    xmlNewProp(x, (const xmlChar *)"backup", (const xmlChar *)"yes");
    if (incremental && d->whole)
      xmlNewProp(x, (const xmlChar *)"backupmode", (const xmlChar *)"full");
    xmlNewProp(x, (const xmlChar *)"type", (const xmlChar *)"file");
    xmlNodePtr t = xmlNewChild(x, NULL, (const xmlChar *)"target", NULL);
    xmlNewProp(t, (const xmlChar *)"file", (const xmlChar *)d->file);
    xmlNodePtr drv = xmlNewChild(x, NULL, (const xmlChar *)"driver", NULL);
    xmlNewProp(drv, (const xmlChar *)"type", (const xmlChar *)"qcow2");
  }
  return doc;
}

int
vk_spawn(char *const argv[], int fd3, int wake_fd, int *status, char **msg)
{
  *msg = NULL;
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) < 0) {
    vk_error(VK_EXIT_FAILURE, "pipe: %s", strerror(errno));
    return -1;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
  if (fd3 >= 0)
    posix_spawn_file_actions_adddup2(&fa, fd3, 3);
  /* The child starts with no signal blocked and the stop signals at their
   * defaults, whatever vckpt did with them.
   */
  posix_spawnattr_t at;
  posix_spawnattr_init(&at);
  sigset_t none, def;
  sigemptyset(&none);
  sigemptyset(&def);
  sigaddset(&def, SIGPIPE);
  sigaddset(&def, SIGINT);
  sigaddset(&def, SIGTERM);
  sigaddset(&def, SIGHUP);
  sigaddset(&def, SIGQUIT);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &def);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid;
  int e = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  close(pfd[1]);
  if (e != 0) {
    close(pfd[0]);
    vk_error(VK_EXIT_FAILURE, "cannot run %s: %s", argv[0], strerror(e));
    return -1;
  }
  /* Keep the start of its standard error, drain the rest. */
  char buf[4096];
  size_t len = 0;
  bool stopped = false;
  for (;;) {
    if (wake_fd >= 0) {
      struct pollfd p[2] = { { .fd = pfd[0], .events = POLLIN }, { .fd = wake_fd, .events = POLLIN } };
      int n = vk_stop_signal ? 0 : poll(p, 2, -1);
      if (vk_stop_signal) {
        stopped = true;
        kill(pid, SIGTERM);
        break;
      }
      if (n < 0 && errno == EINTR)
        continue;
      if (n > 0 && !p[0].revents)
        continue;
    }
    char sink[512];
    bool keep = len < sizeof buf - 1;
    ssize_t n = read(pfd[0], keep ? buf + len : sink, keep ? sizeof buf - 1 - len : sizeof sink);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    if (keep)
      len += n;
  }
  buf[len] = '\0';
  close(pfd[0]);
  while (waitpid(pid, status, 0) < 0)
    if (errno != EINTR) {
      vk_error(VK_EXIT_FAILURE, "waitpid: %s", strerror(errno));
      return -1;
    }
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
    buf[--len] = '\0';
  *msg = vk_xstrdup(buf);
  return stopped ? 1 : 0;
}

int
vk_run(char *const argv[])
{
  int status;
  CLEANUP_FREE char *msg = NULL;
  if (vk_spawn(argv, -1, -1, &status, &msg) < 0)
    return -1;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return 0;
  if (WIFEXITED(status))
    vk_error(VK_EXIT_FAILURE, "%s failed (exit %d)%s%s", argv[0], WEXITSTATUS(status),
             *msg ? ": " : "", msg);
  else if (vk_stop_signal)   /* the terminal's Ctrl-C reached it too */
    vk_error(VK_EXIT_INTERRUPTED, "interrupted by signal %d while %s ran", (int)vk_stop_signal,
             argv[0]);
  else
    vk_error(VK_EXIT_FAILURE, "%s killed by signal %d", argv[0], WTERMSIG(status));
  return -1;
}

int
vk_target_create(const struct vk_job_disk *d)
{
  char size[32];
  snprintf(size, sizeof size, "%llu", (unsigned long long)d->size);
  if (d->backing) {
    /* -u: the size is given and the backing is the previous backup of the
     * chain, which vckpt has checked: qemu-img need not open the chain.
     */
    char *argv[] = { (char *)QEMU_IMG, "create", "-q", "-f", "qcow2", "-F", "qcow2", "-u",
                     "-b", (char *)d->backing, (char *)d->file, size, NULL };
    return vk_run(argv);
  }
  char *argv[] = { (char *)QEMU_IMG, "create", "-q", "-f", "qcow2", (char *)d->file,
                   size, NULL };
  return vk_run(argv);
}

static void
on_signal(int sig)
{
  vk_stop_signal = sig;
}

static int catch_depth;
static struct sigaction saved_int, saved_term;

void
vk_stop_catch_begin(void)
{
  if (catch_depth++ > 0)
    return;
  /* SA_RESTART: reads and writes go on; poll() in the event loop still
   * returns early, and every phase looks at vk_stop_signal.
   */
  struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &saved_int);
  sigaction(SIGTERM, &sa, &saved_term);
}

void
vk_stop_catch_end(void)
{
  if (catch_depth == 0 || --catch_depth > 0)
    return;
  sigaction(SIGINT, &saved_int, NULL);
  sigaction(SIGTERM, &saved_term, NULL);
}
