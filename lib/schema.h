/* vckpt - schemas compiled into the program.
 *
 * xml/manifest.rng, the schema of the repository manifest and journal (and
 * of the journal of an image operation, imageop.h), is turned into
 * lib/manifest-rng.c at build time (lib/Makefile.am), so the program
 * validates with the schema it was built with, installed or not.
 * The file itself is still installed for xmllint users.
 */
#ifndef VCKPT_SCHEMA_H
#define VCKPT_SCHEMA_H

#include <stddef.h>

/* The bytes of xml/manifest.rng, NUL-terminated; SIZE excludes the NUL. */
extern const unsigned char vk_manifest_rng[];
extern const size_t vk_manifest_rng_size;

#endif
