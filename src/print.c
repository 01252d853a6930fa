/* vckpt - the printer of findings and reports (validate, backup, verify). */
#include <config.h>

#include "print.h"
#include "validate.h"
#include "vckpt.h"

void
print_findings(const struct vk_report *rep)
{
  for (size_t i = 0; i < rep->n; i++) {
    const struct vk_finding *f = &rep->f[i];
    CLEANUP_FREE char *img = f->image ? vk_printable(f->image) : NULL;
    CLEANUP_FREE char *msg = vk_printable_text(f->message);
    CLEANUP_FREE char *act = vk_printable_text(f->action);
    vk_printf("%-7s %-26s %-5s %s%s%s\n        fix: %s\n", vk_severity_name(f->severity),
              f->code, f->disk ? f->disk : "-", img ? img : "", img ? ": " : "", msg, act);
  }
}

void
print_preflight_report(const struct vk_report *rep)
{
  print_findings(rep);
  if (rep->errors == 0)
    vk_printf("OK: %s backup of %s would succeed (%zu warning%s)\n",
              rep->checkpoint ? "an incremental" : "a full", rep->domain,
              rep->warnings, rep->warnings == 1 ? "" : "s");
  else
    vk_printf("REFUSED: %s backup of %s%s%s would fail: %zu error%s, %zu warning%s\n",
              rep->checkpoint ? "an incremental" : "a full", rep->domain,
              rep->checkpoint ? " from checkpoint " : "",
              rep->checkpoint ? rep->checkpoint : "",
              rep->errors, rep->errors == 1 ? "" : "s",
              rep->warnings, rep->warnings == 1 ? "" : "s");
}

void
print_verify_report(const struct vk_report *rep, size_t nb, size_t nf)
{
  print_findings(rep);
  vk_printf("%s: %zu backup%s, %zu disk file%s, %zu problem%s\n",
            rep->errors ? "FAILED" : "OK", nb, nb == 1 ? "" : "s", nf, nf == 1 ? "" : "s",
            rep->errors, rep->errors == 1 ? "" : "s");
}
