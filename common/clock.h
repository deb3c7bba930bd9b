/* clock.h — a monotonic clock in milliseconds, for timings printed or logged. */
#ifndef G2R_CLOCK_H
#define G2R_CLOCK_H

#include <time.h>

static inline double g2r_now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

#endif
