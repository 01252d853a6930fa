/* Unit test of vk_backup_begin_flags (lib/backup.c): which flags a push
 * backup passes to virDomainBackupBegin for each libvirt daemon version.
 * PRESERVE_SHUTDOWN_DOMAIN only from 11.10 on: Debian 12's 9.0 and Debian
 * 13's 11.3 refuse an unknown flag, so the backup would never start there.
 */
#include <config.h>

#include <stdio.h>

#include "backup.h"

static int errors;

/* Check the flags for VERSION against WANT. */
static void
check(unsigned long version, unsigned int want)
{
  unsigned int got = vk_backup_begin_flags(version);
  if (got != want) {
    fprintf(stderr, "FAIL: libvirt %lu: flags %#x, want %#x\n", version, got, want);
    errors++;
  }
}

int
main(void)
{
  const unsigned int reuse = VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL;
  const unsigned int both = reuse | VIR_DOMAIN_BACKUP_BEGIN_PRESERVE_SHUTDOWN_DOMAIN;

  if (VIR_DOMAIN_BACKUP_BEGIN_PRESERVE_SHUTDOWN_DOMAIN != 2) {
    fprintf(stderr, "FAIL: PRESERVE_SHUTDOWN_DOMAIN is %d, libvirt's is 1 << 1\n",
            (int)VIR_DOMAIN_BACKUP_BEGIN_PRESERVE_SHUTDOWN_DOMAIN);
    errors++;
  }
  check(0, reuse);              /* version unknown */
  check(9000000, reuse);        /* Debian 12 */
  check(10010000, reuse);
  check(11003000, reuse);       /* Debian 13 */
  check(11009999, reuse);
  check(11010000, both);        /* 11.10.0 */
  check(12000000, both);
  if (errors == 0)
    printf("test-begin-flags: ok\n");
  return errors ? 1 : 0;
}
