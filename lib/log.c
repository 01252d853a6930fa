/* vckpt - the operator's log: --log-file and --syslog (log.h). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "cleanup.h"
#include "log.h"
#include "util.h"

static int log_fd = -1;
static char *log_file;
static bool log_syslog;

/* Append one line to the log file: a single write(2) on an O_APPEND
 * descriptor, so that the lines of parallel runs (backup --all) never mix.
 */
static void
write_line(int priority, const char *text)
{
  if (log_fd >= 0) {
    struct timespec ts;
    struct tm tm;
    char when[64] = "";
    clock_gettime(CLOCK_REALTIME, &ts);
    if (localtime_r(&ts.tv_sec, &tm))
      strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S%z", &tm);
    CLEANUP_FREE char *line = vk_xasprintf("%s %s[%ld]: %s%s\n", when, vk_progname,
                                           (long)getpid(),
                                           priority <= LOG_ERR ? "error: " : "", text);
    size_t len = strlen(line);
    ssize_t n;
    while ((n = write(log_fd, line, len)) < 0 && errno == EINTR)
      ;
    /* A log that cannot be written must not stop a backup: the messages
     * are on stderr too.
     */
  }
  if (log_syslog)
    syslog(priority, "%s%s", priority <= LOG_ERR ? "error: " : "", text);
}

/* Errors and warnings, from util.c. */
static void
message_hook(bool error, const char *line)
{
  write_line(error ? LOG_ERR : LOG_WARNING, line);
}

int
vk_log_open(const char *file, bool use_syslog)
{
  if (file && !*file) {
    vk_error(VK_EXIT_USAGE, "--log-file is empty");
    return -1;
  }
  if (file && !log_file) {
    /* O_NONBLOCK: a FIFO put in its place must not hang a cron job. */
    /* Its directory and those above it only root can change: another
     * user could swap one for a link to make root append elsewhere.
     */
    CLEANUP_FREE char *dir = vk_xstrdup(file);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? file + (slash - dir) + 1 : file;
    if (slash)
      slash[slash == dir ? 1 : 0] = '\0';
    CLEANUP_CLOSE int dfd = vk_dir_open_trusted_base(slash ? dir : ".", "--log-file", NULL);
    if (dfd < 0)
      return -1;
    int fd = openat(dfd, base, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
                    O_NONBLOCK, 0600);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
      vk_error(VK_EXIT_FAILURE, "log file %s: %s", file,
               errno == ELOOP ? "a symbolic link: refusing to follow it"
               : errno == ENXIO ? "a FIFO or socket, not a regular file" : strerror(errno));
      if (fd >= 0)
        close(fd);
      return -1;
    }
    if (!S_ISREG(st.st_mode)) {
      vk_error(VK_EXIT_FAILURE, "log file %s: %s, not a regular file", file,
               vk_file_type_name(st.st_mode));
      close(fd);
      return -1;
    }
    /* A hard link planted in a directory others can write to would make
     * root append to the file it names (protected_hardlinks=0).
     */
    if (st.st_nlink > 1 || st.st_uid != geteuid()) {
      vk_error(VK_EXIT_FAILURE, "log file %s: %s: refusing to append to it", file,
               st.st_nlink > 1 ? "has other hard links" : "belongs to another user");
      close(fd);
      return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
      fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    log_fd = fd;
    log_file = vk_xstrdup(file);
  }
  if (use_syslog && !log_syslog) {
    openlog(vk_progname, LOG_PID, LOG_DAEMON);
    log_syslog = true;
  }
  if (log_fd >= 0 || log_syslog)
    vk_set_message_hook(message_hook);
  return 0;
}

bool
vk_log_active(void)
{
  return log_fd >= 0 || log_syslog;
}

void
vk_log(int priority, const char *fmt, ...)
{
  if (!vk_log_active())
    return;
  va_list ap;
  char *msg = NULL;
  va_start(ap, fmt);
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  va_end(ap);
  if (!msg)
    return;
  /* Names come from the user and from libvirt: one line, no control
   * characters.
   */
  CLEANUP_FREE char *text = vk_printable_text(msg);
  free(msg);
  write_line(priority, text);
}

void
vk_log_close(void)
{
  vk_set_message_hook(NULL);
  if (log_fd >= 0)
    close(log_fd);
  log_fd = -1;
  free(log_file);
  log_file = NULL;
  if (log_syslog)
    closelog();
  log_syslog = false;
}
