/* error.h — filling a g2r_error: every failure is a value with a message. */
#ifndef G2R_ERROR_H
#define G2R_ERROR_H

#include "gpt2rank.h"

/* Sets err (if not NULL) to status and a printf-formatted one-line message;
 * returns status so callers can write `return g2r_fail(err, ...)`. */
g2r_status g2r_fail(g2r_error *err, g2r_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
