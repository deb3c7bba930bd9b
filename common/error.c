/* error.c — one-line error messages as values. */
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>

const char *g2r_status_name(g2r_status s) {
    switch (s) {
    case G2R_OK: return "ok";
    case G2R_EIO: return "i/o error";
    case G2R_EFORMAT: return "malformed input";
    case G2R_EARG: return "invalid argument";
    case G2R_ENOMEM: return "out of memory";
    case G2R_ERANGE: return "out of range";
    case G2R_EDEVICE: return "device error";
    }
    return "unknown status";
}

g2r_status g2r_fail(g2r_error *err, g2r_status status, const char *fmt, ...) {
    if (!err) return status;
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    /* keep the message on one line */
    for (char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    return status;
}
