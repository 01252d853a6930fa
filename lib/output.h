/* vckpt - buffered standard output.
 * Commands write into a buffer; main() writes it out only when the
 * command succeeded, so a failure never leaves half a listing on stdout.
 */
#ifndef VCKPT_OUTPUT_H
#define VCKPT_OUTPUT_H

#include <stdbool.h>
#include <json-c/json.h>

#include "cleanup.h"

extern bool vk_json;   /* --json: listings are printed as JSON */
extern bool vk_quiet;  /* -q: no informational output */

/* Append formatted text to the pending output. */
void vk_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Set the JSON document to print (takes ownership). */
void vk_out_json(json_object *obj);
/* Write pending output to stdout and check it reached it; -1 on error.
 * Inside an output unit (below) it only keeps the unit's output so far.
 */
int vk_out_flush(void);
/* Drop pending output (after a failure); the results of units already
 * ended stay.
 */
void vk_out_discard(void);

/* One result per unit of work (e.g. per domain of a run over many): output
 * written between vk_out_unit_begin(NAME) and vk_out_unit_end(STATUS) is
 * the unit's result.  A unit that failed (STATUS != 0) keeps only what it
 * flushed itself (a refused preflight's report); the rest is dropped, as
 * for a failed command.  The next vk_out_flush() outside a unit writes all
 * results in order: as text, each unit's text; with --json, one array of
 * {"unit": NAME, "exit": STATUS, "result": DOCUMENT or null}.  Output
 * still pending when a unit begins becomes part of that unit's; units do
 * not nest (a run over domains opens one per domain).
 */
void vk_out_unit_begin(const char *name);
void vk_out_unit_end(int status);
/* Name the host of the unit open (a run over several hosts): its JSON
 * object gets "host" after "unit".
 */
void vk_out_unit_host(const char *host);
/* Whether results of units wait to be written. */
bool vk_out_has_results(void);

/* json-c helpers that cannot fail silently. */
json_object *vk_json_string(const char *s);   /* NULL gives JSON null */

#endif
