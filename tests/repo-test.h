/* vckpt - what the unit tests of the backup repository (test-repo-*.c)
 * share: scratch space, the CHECK macro, running a case in a child, fake
 * backups, and the one main().
 */
#ifndef VCKPT_REPO_TEST_H
#define VCKPT_REPO_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "repo.h"

extern char *tmpdir;
extern char *repo;       /* TMPDIR/repo */
extern int errors;
extern unsigned seed;    /* of rand(): printed, and taken from $VCKPT_TEST_SEED */

#define CHECK(cond, ...)                                        \
  do {                                                          \
    if (!(cond)) {                                              \
      fprintf(stderr, "FAIL: %s:%d: ", __func__, __LINE__);     \
      fprintf(stderr, __VA_ARGS__);                             \
      fputc('\n', stderr);                                      \
      errors++;                                                 \
    }                                                           \
  } while (0)

/* Disk target lists for vk_repo_begin. */
extern char *const vda_vdb[];
extern char *const vda[];

/* Remove a directory tree (test scratch space only). */
void rm_rf(const char *path);
/* Whether PATH exists (a dangling symlink counts). */
bool file_exists(const char *path);
/* Read a whole file, NULL if absent (NUL bytes allowed; *LEN is the size). */
char *slurp(const char *path, size_t *len);
/* Create PATH with CONTENT; O_EXCL, as QEMU's target would be new. */
int put(const char *path, const char *content, size_t len);
/* Run FN(ARG) in a child, its stderr captured in *ERR; returns the child's
 * exit status: 0 if FN returned 0, else the status vk_error chose, or
 * 128+signal.
 */
int in_child(int (*fn)(void *), void *arg, char **err);
/* Make a backup with fake disk files holding PAYLOAD.TARGET. */
int make_backup(struct vk_repo *r, enum vk_level level, const char *chk,
                const struct vk_backup *parent, char *const *targets, const char *payload,
                struct vk_backup **out);
/* Compare two strings that may be NULL. */
bool same(const char *a, const char *b);
/* Whether two backups are equal field by field. */
bool same_backup(const struct vk_backup *a, const struct vk_backup *b);
/* Count our temporary files left anywhere under DIR. */
int count_temps(const char *dir);
/* Open the repository of domain ARG with the lock, then close it (in a
 * child).
 */
int open_locked(void *arg);

/* One named case of a test program. */
struct repo_test {
  const char *name;
  void (*fn)(void);
};

/* The main() of test program PROGRAM: make the scratch directory, pick
 * the random seed, run the N TESTS (only the one named by argv[1] if
 * given), report.  The exit status of the program.
 */
int repo_test_main(const char *program, const struct repo_test *tests, size_t n,
                   int argc, char **argv);

#endif
