/* vckpt - the one printer of findings and reports, shared by validate,
 * backup and verify: a finding looks the same whichever command found it.
 */
#ifndef VCKPT_PRINT_H
#define VCKPT_PRINT_H

#include <stddef.h>

struct vk_report;

/* The findings of REP, one line each (severity, code, disk, image, message),
 * then an indented line with its fix.
 */
void print_findings(const struct vk_report *rep);
/* A preflight report (validate): the findings, then an OK or REFUSED
 * verdict line.
 */
void print_preflight_report(const struct vk_report *rep);
/* A repository check (verify): one line per finding, then a verdict with
 * the counts of backups (NB) and disk files (NF) checked.
 */
void print_verify_report(const struct vk_report *rep, size_t nb, size_t nf);

#endif
