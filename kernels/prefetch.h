/* prefetch.h — prefetch a block of weight rows ahead as one stream.
 *
 * Decode reads several weight rows side by side: that many interleaved
 * streams, which this machine's memory serves ~25% slower than one (40 vs
 * 54 GB/s, 2 threads, even with each stream prefetched ahead).  A cursor
 * walks the rows [row, ...) of a block, run bytes of each, stride apart, in
 * memory order, one line a call: the loop calls it once for each line it
 * loads, some distance below, so the prefetches form one stream ahead. */
#ifndef G2R_PREFETCH_H
#define G2R_PREFETCH_H

#include <stddef.h>
#include <xmmintrin.h>

typedef struct {
    const char *row; /* the row the cursor is in, at the block's first column */
    size_t stride;
    int col, run;    /* bytes */
} g2r_pf_cursor;

static inline void g2r_pf_next(g2r_pf_cursor *pc) {
    _mm_prefetch(pc->row + pc->col, _MM_HINT_T0);
    pc->col += 64;
    if (pc->col >= pc->run) {
        pc->col = 0;
        pc->row += pc->stride;
    }
}

#endif
