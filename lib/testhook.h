/* vckpt - test hooks: named points in the code where a test makes vckpt
 * stop or die, so that it can act, or look, at a known moment.
 *
 * VCKPT_TEST_HOOK=POINT       stop at POINT (SIGSTOP) until continued
 *                             (SIGCONT): the test changes something, or
 *                             sends a signal, while vckpt waits there
 * VCKPT_TEST_HOOK=POINT:kill  die at POINT (SIGKILL), as a crash would
 * VCKPT_TEST_HOOK=POINT:fault at POINT, do the fault the code there
 *                             defines (vk_test_fault): an input vckpt
 *                             cannot make a real program produce at will
 *
 * The points are string literals at the call sites (grep vk_test_hook);
 * HACKING.md lists the families.  Only tests set the variable.
 */
#ifndef VCKPT_TESTHOOK_H
#define VCKPT_TESTHOOK_H

#include <stdbool.h>

/* When $VCKPT_TEST_HOOK names POINT, do what it says: stop, or die. */
void vk_test_hook(const char *point);
/* Whether $VCKPT_TEST_HOOK is POINT:fault: the caller then behaves as its
 * comment at the call says (a fault injected for a test).
 */
bool vk_test_fault(const char *point);

#endif
