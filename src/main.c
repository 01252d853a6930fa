/* vckpt - entry point: global options, then dispatch to one command
 * (cmd.c), then the exit status.
 */
#include <config.h>

#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "log.h"
#include "process.h"
#include "vckpt.h"
#include "virt.h"
#include "xml.h"

static struct poptOption global_options[] = {
  { NULL, '\0', POPT_ARG_INCLUDE_TABLE, vk_common_options, 0, NULL, NULL },
  { "version", '\0', POPT_ARG_NONE, NULL, CMD_OPT_VERSION, "print the version and exit", NULL },
  { "help", 'h', POPT_ARG_NONE, NULL, CMD_OPT_HELP, "show this help", NULL },
  POPT_TABLEEND
};

int
main(int argc, const char **argv)
{
  int rc, r;

  /* Backups and restored images hold a guest's whole disk: whatever
   * vckpt or its qemu-img children create is private (0600, 0700).
   */
  umask(077);
  setlocale(LC_ALL, "");
  /* As libvirt asks of its clients: a closed connection or stdout must be
   * an error we report, not a silent death by SIGPIPE.
   */
  signal(SIGPIPE, SIG_IGN);
  vk_xml_init();
  vk_virt_init();

  poptContext pc = poptGetContext(vk_progname, argc, argv, global_options,
                                  POPT_CONTEXT_POSIXMEHARDER);
  bool help = false, version = false;
  while ((rc = poptGetNextOpt(pc)) > 0) {
    if (rc == CMD_OPT_HELP)
      help = true;
    else if (rc == CMD_OPT_VERSION)
      version = true;
  }
  if (rc < -1) {
    vk_error(VK_EXIT_USAGE, "%s: %s (try 'vckpt --help')",
             poptBadOption(pc, POPT_BADOPTION_NOALIAS), poptStrerror(rc));
    poptFreeContext(pc);
    return VK_EXIT_USAGE;
  }
  if (cmd_apply_common_options() < 0) {
    poptFreeContext(pc);
    return vk_exit_status();
  }

  const char **args = poptGetArgs(pc);
  int nargs = 0;
  while (args && args[nargs])
    nargs++;

  /* One command, one unit of work; a command over many domains runs one
   * unit per domain inside it (util.h).
   */
  vk_unit_begin(NULL);
  if (version) {
    unsigned long lib = 0;
    virGetVersion(&lib, NULL, NULL);
    vk_printf("vckpt %s (libvirt %lu.%lu.%lu)\n", PACKAGE_VERSION,
              lib / 1000000, lib / 1000 % 1000, lib % 1000);
    r = 0;
  } else if (help) {
    help_global();
    r = 0;
  } else if (nargs == 0) {
    vk_error(VK_EXIT_USAGE, "no command given (try 'vckpt --help')");
    r = -1;
  } else
    r = cmd_dispatch(nargs, args);
  poptFreeContext(pc);

  /* A failed command leaves no half output, but the results of the units
   * it finished stay.
   */
  if (r == 0)
    r = vk_out_flush();
  else {
    vk_out_discard();
    if (vk_out_has_results())
      vk_out_flush();
  }
  vk_unit_end();
  vk_set_context(NULL);
  if (vk_stop_late())
    vk_warn("signal %d came once the work was done: it changed nothing", vk_stop_late());
  /* Many units: the most serious status, in the order of vk_exit_worse(). */
  int status = r == 0 ? VK_EXIT_OK : vk_exit_status();
  vk_log(status == VK_EXIT_OK ? LOG_INFO : LOG_ERR, "end: exit status %d", status);
  vk_log_close();
  return status;
}
