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
/* Write pending output to stdout and check it reached it; -1 on error. */
int vk_out_flush(void);
/* Drop pending output (after a failure). */
void vk_out_discard(void);

/* json-c helpers that cannot fail silently. */
json_object *vk_json_string(const char *s);   /* NULL gives JSON null */

#endif
